"""The operator's credit grants: a grant to a merchant's wallet, and its void, each with its
audit row in the same transaction (``billing.wallet.grants`` holds the rules)."""

from ..billing.wallet import grants
from ..billing.wallet.grants import GrantCreate
from ..store.engine import Database
from ..store.models import Merchant, table_of
from ..values.clock import new_id, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .audit import Call, record

__all__ = ["create", "void"]

_M = table_of(Merchant)


async def create(db: Database, call: Call, merchant_id: str, body: GrantCreate) -> Outcome:
    """Grant ``body`` to the merchant's wallet in ``body.env``: ``data`` the grant."""
    now = utcnow()
    async with db.transaction() as conn:
        found = await conn.execute(
            _M.select().with_only_columns(_M.c.id).where(_M.c.id == merchant_id)
        )
        if found.first() is None:
            raise ApiError(Code.MERCHANT_NOT_FOUND)
        made, moved = await grants.grant(conn, merchant_id, body, new_id("adj"), now)
        await record(
            conn,
            call,
            Code.CREATED,
            now,
            target_id=merchant_id,
            details={**body.model_dump(mode="json"), "grant_id": made.id},
        )
    return Outcome(Code.CREATED, made.model_dump(), deliveries=moved.delivery_ids)


async def void(db: Database, call: Call, merchant_id: str, grant_id: str) -> Outcome:
    """Void the merchant's grant: what is left of it leaves the wallet; ``data`` the grant."""
    now = utcnow()
    async with db.transaction() as conn:
        voided, balance = await grants.void(conn, merchant_id, grant_id, now)
        await record(
            conn,
            call,
            Code.SUCCESS,
            now,
            target_id=merchant_id,
            details={"grant_id": grant_id, "balance_cents": balance},
        )
    return Outcome(Code.SUCCESS, voided.model_dump())
