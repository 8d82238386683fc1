"""The staging mailbox: every mail a merchant's staging sends wrote, as it would have been sent.

Only staging: live mail leaves the gateway, and a merchant reads its state on its recipients.
Each mail is composed as the worker composes it (``content.compose``), so what the mailbox shows
is what SMTP would have received, but a code the caller may not see (``Caller.sees_codes``: an
upstream's to a key without ``reveal_voucher``, any to a dashboard member whose role does not
reveal codes) and a link to a page that shows one are masked, as every reply masks the code.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..callers import Caller
from ..store.engine import Database
from ..store.models import Mail, Topup, table_of
from ..store.paging import newest_first, split
from ..store.rows import CoreRow
from ..values.clock import rfc3339, utcnow
from ..values.code_names import Code
from ..values.languages import Catalogues
from ..values.outcome import ApiError, CursorMeta, Outcome
from .content import compose
from .schemas import EmailData

__all__ = ["MailState", "get", "list_page", "require_staging", "states"]

_M = table_of(Mail)
_T = table_of(Topup)


def require_staging(env: str) -> None:
    if env != "staging":
        raise ApiError(Code.MAILBOX_STAGING_ONLY)


async def _data(
    conn: AsyncConnection,
    sealer: Sealer,
    caller: Caller,
    row: CoreRow,
    base_url: str,
    ttl: int,
    now: datetime,
    catalogues: Catalogues | None,
) -> EmailData:
    message = await compose(
        conn,
        sealer,
        row,
        base_url=base_url,
        link_ttl_seconds=ttl,
        now=now,
        reader=caller,
        catalogues=catalogues,
    )
    return EmailData(
        id=row.id,
        kind=row.kind,
        status=row.status,
        to=message.to if message is not None else "",
        subject=message.rendered.subject if message is not None else None,
        text=message.rendered.text if message is not None else None,
        html=message.rendered.html if message is not None else None,
        link=message.link if message is not None else None,
        transaction_id=row.topup_id,
        redeemed_at=_when(None if message is None else message.redeemed_at),
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=rfc3339(row.created_at),
        sent_at=rfc3339(row.sent_at) if row.sent_at is not None else None,
    )


def _when(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def _mine(caller: Caller) -> tuple[Any, ...]:
    return (_M.c.merchant_id == caller.merchant_id, _M.c.env == caller.env)


async def list_page(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    *,
    limit: int,
    cursor: str | None,
    base_url: str,
    link_ttl_seconds: int,
    catalogues: Catalogues | None = None,
) -> Outcome:
    """Newest first, paged by id, the caller's staging mail only (``meta``: ``CursorMeta``)."""
    require_staging(caller.env)
    stmt = newest_first(select(_M).where(*_mine(caller)), _M.c.id, limit=limit, cursor=cursor)
    now = utcnow()
    async with db.read() as conn:
        rows, more = split((await conn.execute(stmt)).all(), limit)
        items = [
            await _data(conn, sealer, caller, r, base_url, link_ttl_seconds, now, catalogues)
            for r in rows
        ]
    meta = CursorMeta.of(items, limit, more)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def get(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    mail_id: str,
    *,
    base_url: str,
    link_ttl_seconds: int,
    catalogues: Catalogues | None = None,
) -> Outcome:
    require_staging(caller.env)
    async with db.read() as conn:
        row = (await conn.execute(select(_M).where(_M.c.id == mail_id, *_mine(caller)))).first()
        if row is None:
            raise ApiError(Code.EMAIL_NOT_FOUND)
        found = await _data(
            conn, sealer, caller, row, base_url, link_ttl_seconds, utcnow(), catalogues
        )
    return Outcome(Code.SUCCESS, found)


@dataclass(frozen=True, slots=True)
class MailState:
    """What a merchant sees of a mail in either environment: its state, not its content."""

    id: str
    kind: str
    status: str
    to: str | None
    transaction_id: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


async def states(
    db: Database, sealer: Sealer, caller: Caller, *, limit: int, before: str | None
) -> Outcome:
    """The caller's mail in its environment, newest first, by state (``MailState``; ``meta``:
    ``CursorMeta``)."""
    mine = (
        select(_M, _T.c.recipient_email)
        .select_from(_M.outerjoin(_T, _T.c.id == _M.c.topup_id))
        .where(*_mine(caller))
    )
    stmt = newest_first(mine, _M.c.id, limit=limit, cursor=before)
    async with db.read() as conn:
        rows, more = split((await conn.execute(stmt)).all(), limit)
    found = [
        MailState(
            id=r.id,
            kind=r.kind,
            status=r.status,
            to=r.recipient_email if r.to_sealed is None else sealer.open(r.to_sealed, context=r.id),
            transaction_id=r.topup_id,
            attempts=r.attempts,
            last_error=r.last_error,
            created_at=r.created_at,
            sent_at=r.sent_at,
        )
        for r in rows
    ]
    meta = CursorMeta.of(found, limit, more)
    return Outcome(Code.SUCCESS, found, meta=meta.model_dump())
