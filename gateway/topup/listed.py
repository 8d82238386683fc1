"""A page of the caller's environment's top-ups as the dashboard lists them: newest first, with
the sending key's name and prefix beside each (the top-ups page, the overview's recent sends,
and the held sends of the approvals inbox)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..callers import Caller
from ..store.engine import Database
from ..store.models import ApiKeyRow, Topup, table_of
from ..store.paging import newest_first, split

__all__ = ["TopupRow", "topups"]

_T = table_of(Topup)
_K = table_of(ApiKeyRow)


@dataclass(frozen=True, slots=True)
class TopupRow:
    id: str
    status: str
    platform: str
    amount_cents: int
    recipient_email: str
    failure_reason: str | None
    created_at: datetime
    key_name: str | None  # the sending key's, when it has one
    key_prefix: str  # and its display prefix


def _topups_of(caller: Caller) -> tuple[Any, ...]:
    return (_T.c.merchant_id == caller.merchant_id, _T.c.env == caller.env)


async def topups(
    db: Database,
    caller: Caller,
    *,
    limit: int,
    before: str | None = None,
    status: str | None = None,
    platform: str | None = None,
    recipient: str | None = None,
) -> tuple[list[TopupRow], bool]:
    """Newest first, ``limit`` a page, after the id ``before``; filters match exactly, and
    ``recipient`` as a substring of the address."""
    stmt = (
        select(
            _T.c.id,
            _T.c.status,
            _T.c.platform,
            _T.c.amount_cents,
            _T.c.recipient_email,
            _T.c.failure_reason,
            _T.c.created_at,
            _K.c.name,
            _K.c.display_prefix,
        )
        .join(_K, _K.c.id == _T.c.api_key_id)
        .where(*_topups_of(caller))
    )
    stmt = newest_first(stmt, _T.c.id, limit=limit, cursor=before or None)
    if status:
        stmt = stmt.where(_T.c.status == status)
    if platform:
        stmt = stmt.where(_T.c.platform == platform)
    if recipient:
        escaped = recipient.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(_T.c.recipient_email.like(f"%{escaped}%", escape="\\"))
    async with db.read() as conn:
        rows, more = split((await conn.execute(stmt)).all(), limit)
    return [TopupRow(*row) for row in rows], more
