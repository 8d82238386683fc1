"""A settled wallet's grants that can hold no credit, emptied: a remainder past its expiry
leaves with a ``grant_expired`` entry and a ``credit.expired`` event, one on a voided grant (a
give-back restored it, ``giveback``) with a ``grant_voided`` entry. The sweep and a give-back
run it alike, under the wallet's lock (``grants.settle``), so a remainder leaves once however
many of them race."""

from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, String, or_, select, update

from .. import outbox
from ..store.expressions import param
from ..store.models import CreditGrant, table_of
from ..store.raw import Conn, Statement, raw
from ..store.types import UTCDateTime
from ..values.clock import rfc3339
from . import grants
from . import service as ledger

__all__ = ["EXPIRED", "empty_dead"]

EXPIRED: Final = "credit.expired"

_G = table_of(CreditGrant)
_INT = BigInteger()

_DEAD = Statement.of(
    select(
        _G.c.id,
        _G.c.category,
        _G.c.amount_cents,
        _G.c.remaining_cents,
        _G.c.expires_at,
        _G.c.voided_at,
    )
    .where(
        _G.c.wallet_id == param("wallet_id", String),
        _G.c.remaining_cents > 0,
        or_(_G.c.voided_at.is_not(None), _G.c.expires_at <= param("cutoff", UTCDateTime())),
    )
    .order_by(_G.c.expires_at, _G.c.id)
)
# Added to what was removed before: a grant a give-back restored after its expiry or its void
# has been emptied once already.
_EMPTY = Statement.of(
    update(_G)
    .where(_G.c.id == param("grant_id", String), _G.c.remaining_cents == param("left", _INT))
    .values(
        removed_cents=_G.c.removed_cents + _G.c.remaining_cents,
        remaining_cents=0,
        expired_at=param("expired_at", UTCDateTime()),
    )
)


def _at(moment: datetime | None) -> datetime:
    assert moment is not None, "a grant that expired has its expiry"
    return moment


async def empty_dead(conn: Conn, wallet: dict[str, Any], now: datetime) -> tuple[int, list[str]]:
    """Empty the grants of settled ``wallet`` (``grants.settle``'s row) past their expiry at
    ``now``, or voided with a remainder: how many expired, and the deliveries of their
    ``credit.expired`` events."""
    db = await raw(conn)
    wallet_id, env = str(wallet["id"]), str(wallet["env"])
    rows = await db.fetch(_DEAD, {"wallet_id": wallet_id, "cutoff": now})
    expired, deliveries = 0, []
    for row in rows:
        voided = db.timestamp(row["voided_at"]) is not None
        left = int(row["remaining_cents"])
        await db.count(
            _EMPTY,
            {"grant_id": row["id"], "left": left, "expired_at": None if voided else now},
        )
        balance = await ledger.withdraw(conn, wallet_id, left, now)
        kind = grants.VOIDED_KIND if voided else grants.EXPIRED_KIND
        await ledger.append(conn, [ledger.Entry(wallet_id, env, -left, kind, row["id"])], now)
        if voided:
            continue
        expired += 1
        deliveries += await outbox.emit(
            conn,
            env=env,
            merchant_id=str(wallet["merchant_id"]),
            type_=EXPIRED,
            data={
                "env": env,
                "grant_id": row["id"],
                "category": row["category"],
                "amount_cents": int(row["amount_cents"]),
                "expired_cents": left,
                "balance_cents": balance,
                "currency": "USD",
                "expires_at": rfc3339(_at(db.timestamp(row["expires_at"]))),
            },
            now=now,
        )
    return expired, deliveries
