"""An agent order's claim as a credential sees it: whether the order an offer's single-use id
keys (``protocols.orders``) was written, by that credential, and where it stands.

An agent's wallet paying this gateway's own staging challenge learns from it whether the seller
took its token (``Payer.used``): the order keeps the digest of the credential that claimed it
(``base.digest``), never the token. Apart from ``protocols.orders``, which reads the registry,
so the payers, which the registry lists, can read it."""

import hmac
from dataclasses import dataclass

from sqlalchemy import select

from ..store.engine import Database
from ..store.models import FundingOrder, table_of

__all__ = ["Claim", "claim_of"]

_O = table_of(FundingOrder)


@dataclass(frozen=True, slots=True)
class Claim:
    """The order an offer's single-use id claimed: its status, what it pays, and whether the
    credential asked about is the one that claimed it (only that one ever takes its money)."""

    status: str  # pending, completed, failed, expired
    amount_cents: int
    mine: bool


async def claim_of(
    db: Database, *, channel: str, env: str, session_id: str, credential: str
) -> Claim | None:
    """The order of ``channel`` in ``env`` keyed by ``session_id`` (an MPP challenge's id, by
    the orders' unique key), as the credential whose ``digest`` is ``credential`` sees it; None
    when none was written."""
    async with db.read() as conn:
        found = (
            await conn.execute(
                select(_O.c.status, _O.c.amount_cents, _O.c.credential_digest).where(
                    _O.c.channel == channel,
                    _O.c.env == env,
                    _O.c.provider_account == "",
                    _O.c.provider_session_id == session_id,
                )
            )
        ).first()
    if found is None:
        return None
    mine = hmac.compare_digest((found.credential_digest or "").encode(), credential.encode())
    return Claim(str(found.status), int(found.amount_cents), mine)
