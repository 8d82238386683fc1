"""A merchant ends every link to a recipient's page made until now.

A link says when it was made (``mail.links.RecipientLink.issued_at``); a revocation keeps the
time, per merchant, environment and address (``recipient_link_revocations``). A link made until
then (or one too old to say when it was made) no longer opens the page, and the page's live
stream ends at its next poll; a link made after it, by e-mail on request or with the next
send, works. ``revoke`` is the one operation of every door (the API and the dashboard).
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller
from ..mail.links import RecipientLink
from ..store.engine import Database
from ..store.expressions import upsert
from ..store.models import RecipientLinkRevocation, Topup, table_of
from ..values.clock import rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .schemas import LinksRevokedData

__all__ = ["holds", "revoke", "revoked_at"]

_R = table_of(RecipientLinkRevocation)
_T = table_of(Topup)


async def revoked_at(conn: AsyncConnection, link: RecipientLink) -> datetime | None:
    """When the merchant last ended ``link``'s recipient's links, if it ever did."""
    found = await conn.execute(
        select(_R.c.revoked_at).where(
            _R.c.merchant_id == link.merchant_id,
            _R.c.env == link.env,
            _R.c.recipient_email == link.email,
        )
    )
    when: datetime | None = found.scalar()
    return when


async def holds(db: Database, link: RecipientLink) -> bool:
    """Whether ``link`` is not revoked (its expiry is the caller's to check)."""
    async with db.read() as conn:
        when = await revoked_at(conn, link)
    return when is None or (link.issued_at is not None and link.issued_at > when)


async def revoke(db: Database, caller: Caller, email: str) -> Outcome:
    """End every link to ``email``'s page (canonical) at the caller's merchant and environment
    made until now; ``RECIPIENT_NOT_FOUND`` for an address it never sent to."""
    now = utcnow()
    async with db.transaction() as conn:
        known = await conn.execute(
            select(_T.c.id)
            .where(
                _T.c.merchant_id == caller.merchant_id,
                _T.c.env == caller.env,
                _T.c.recipient_email == email,
            )
            .limit(1)
        )
        if known.first() is None:
            raise ApiError(Code.RECIPIENT_NOT_FOUND)
        values = {
            "merchant_id": caller.merchant_id,
            "env": caller.env,
            "recipient_email": email,
            "revoked_at": now,
        }
        await conn.execute(
            upsert(_R)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["merchant_id", "env", "recipient_email"],
                set_={"revoked_at": now},
            )
        )
    revoked = LinksRevokedData(email=email, revoked_at=rfc3339(now))
    return Outcome(Code.RECIPIENT_LINKS_REVOKED, revoked)
