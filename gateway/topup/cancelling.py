"""Cancel: a pending top-up cancelled and refunded, one change of the lifecycle."""

from sqlalchemy import select

from keys import Sealer

from ..callers import Caller
from ..store.engine import Database
from ..store.models import Topup, table_of
from ..upstreams import work
from ..values import statuses
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from . import lifecycle
from .reads import mine, topup_data

__all__ = ["cancel"]

_T = table_of(Topup)


async def cancel(db: Database, sealer: Sealer, caller: Caller, txn_id: str) -> Outcome:
    """Pending → cancelled, refunded (``lifecycle``). The change is conditional on the row
    still pending, so two concurrent cancels refund once."""
    now = utcnow()
    async with db.transaction() as conn:
        row = (await conn.execute(select(_T).where(_T.c.id == txn_id, *mine(caller)))).first()
        if row is None:
            raise ApiError(Code.TRANSACTION_NOT_FOUND)
        moved = None
        # A top-up its upstream is fulfilling is not the merchant's to cancel: the upstream may
        # have issued its code already. It ends delivered, or failed and refunded.
        if row.status == statuses.PENDING and not await work.fulfilling(conn, txn_id):
            asked = lifecycle.ChangeRequest(
                row, statuses.CANCELLED, wallet_id=caller.wallet_id, now=now
            )
            moved = await lifecycle.move(conn, asked)
        if moved is None:
            status = (await conn.execute(select(_T.c.status).where(_T.c.id == txn_id))).scalar()
            raise ApiError(Code.TOPUP_NOT_CANCELLABLE, transaction_id=txn_id, status=status)
    changed, deliveries = moved
    data = topup_data(changed, sealer).model_dump()
    return Outcome(
        Code.TOPUP_CANCELLED,
        data,
        transaction_id=txn_id,
        status=statuses.CANCELLED,
        deliveries=deliveries,
    )
