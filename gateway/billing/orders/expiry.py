"""An order that can no longer be paid: expired by the worker's sweep (``expire_due``), by a
checkout that finds its coupon's uses all held, and by a payment that comes too late, so that a
use is never kept by an order that can no longer be paid. A session held open for a bank debit
(``hold_open``) has no expiry.

An agent's order (kind ``agent``) is never expired here: it is written as its money is taken,
so whether money moved is its provider's to say, and reconciliation asks it once the order is
past its expiry (``reconcile``), expiring it only on the answer."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ...store.engine import Database
from ...store.expressions import materialized
from ...store.models import FundingOrder, table_of
from ...values.clock import utcnow
from ...values.marking import marked
from . import states
from .coupons import follow_move

__all__ = [
    "CANCELLED_REASON",
    "EXPIRED_REASON",
    "EXPIRE_BATCH",
    "expire",
    "expire_due",
    "hold_open",
]

_O = table_of(FundingOrder)

# Marked: the wallet's history shows them in the reader's words (``said``).
EXPIRED_REASON = marked("checkout expired")
CANCELLED_REASON = marked("checkout cancelled")
# Orders expired per transaction of the sweep.
EXPIRE_BATCH = 500
# An agent's payment (``protocols.orders.AGENT``): its money taken as its order is written.
AGENT_KIND = "agent"


async def expire(
    conn: AsyncConnection,
    now: datetime,
    *,
    order_id: str | None = None,
    coupon_id: str | None = None,
    env: str | None = None,
    limit: int = EXPIRE_BATCH,
) -> int:
    """Expire pending orders past their ``expires_at`` (of one order, or one coupon in one env,
    when named) and give their coupon uses back; how many."""
    due = select(_O.c.id).where(
        _O.c.status == "pending", _O.c.expires_at <= now, _O.c.kind != AGENT_KIND
    )
    if order_id is not None:
        due = due.where(_O.c.id == order_id)
    if coupon_id is not None:
        due = due.where(_O.c.coupon_id == coupon_id, _O.c.env == env)
    # Picked first, alone, then each moved by its key: matched as a subquery, the planner of a
    # table without statistics read every expired order for each one it moved.
    chosen = materialized(due.order_by(_O.c.expires_at).limit(limit), "due")
    # Again here, on the row: a pay or a cancel that got there first leaves it alone.
    rows = await states.move(
        conn,
        states.PENDING,
        states.EXPIRED,
        now,
        _O.c.id.in_(select(chosen.c.id)),
        _O.c.expires_at <= now,
        values={"failure_reason": EXPIRED_REASON},
        returning=(_O.c.coupon_id, _O.c.env),
    )
    await follow_move(conn, states.transition(states.PENDING, states.EXPIRED), rows)
    return len(rows)


async def expire_due(db: Database, *, now: datetime | None = None) -> int:
    """Expire every pending order past its ``expires_at``, a batch per transaction, giving
    coupon uses back; how many. The worker's sweep runs it."""
    now = now or utcnow()
    total = 0
    while True:
        async with db.transaction() as conn:
            done = await expire(conn, now)
        total += done
        if done < EXPIRE_BATCH:
            return total


async def hold_open(
    conn: AsyncConnection, order_id: str, session_id: str | None, *, provider: str
) -> None:
    """A payment completed at the provider with its money still on the way (a bank debit):
    the provider's page can no longer expire, so neither does the order; the provider's next
    report settles it."""
    same_session = (
        _O.c.provider_session_id.is_(None)
        if session_id is None
        else _O.c.provider_session_id == session_id
    )
    await conn.execute(
        update(_O)
        .where(
            _O.c.id == order_id,
            _O.c.status == "pending",
            _O.c.provider == provider,
            same_session,
        )
        .values(expires_at=None)
    )
