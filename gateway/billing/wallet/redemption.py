"""Redemption codes: admin-issued bearer codes, each credited once to the wallet that redeems it."""

from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import hash_code

from ...callers import Caller
from ...ledger import grants
from ...store.engine import Database
from ...store.models import FundingOrder, RedemptionCode, table_of
from ...values.clock import new_id, utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from ..orders import states as order_states
from ..schemas import RedeemData
from .funding import Moved, credit_merchant

__all__ = ["redeem"]


_O = table_of(FundingOrder)
_R = table_of(RedemptionCode)


async def _refusal(conn: AsyncConnection, code_hash: str, env: str, now: datetime) -> ApiError:
    row = (
        await conn.execute(
            select(_R.c.env, _R.c.redeemed_at, _R.c.expires_at, _R.c.voided_at).where(
                _R.c.code_hash == code_hash
            )
        )
    ).first()
    if row is None:
        return ApiError(Code.REDEMPTION_CODE_UNKNOWN)
    if row.env != env:
        return ApiError(Code.REDEMPTION_CODE_WRONG_ENV)
    if row.redeemed_at is not None:
        return ApiError(Code.REDEMPTION_CODE_USED)
    if row.voided_at is not None:
        return ApiError(Code.REDEMPTION_CODE_VOIDED)
    return ApiError(Code.REDEMPTION_CODE_EXPIRED)


async def redeem(db: Database, settings: Settings, caller: Caller, code: str) -> Outcome:
    """Claim and credit in one transaction. The claim is one conditional UPDATE, so of any
    number of concurrent redemptions of a code exactly one finds it unused."""
    code_hash = hash_code(code, settings.key_pepper.get_secret_value().encode())
    now = utcnow()
    order_id = new_id("ord")
    async with db.transaction() as conn:
        claimed = (
            await conn.execute(
                update(_R)
                .where(
                    _R.c.code_hash == code_hash,
                    _R.c.env == caller.env,
                    _R.c.redeemed_at.is_(None),
                    _R.c.voided_at.is_(None),
                    or_(_R.c.expires_at.is_(None), _R.c.expires_at > now),
                )
                .values(redeemed_at=now, redeemed_by=caller.merchant_id, order_id=order_id)
                .returning(_R.c.id, _R.c.amount_cents, _R.c.name, _R.c.expires_at)
            )
        ).first()
        if claimed is None:
            raise await _refusal(conn, code_hash, caller.env, now)
        amount = int(claimed.amount_cents)
        await conn.execute(
            insert(_O).values(
                id=order_id,
                env=caller.env,
                merchant_id=caller.merchant_id,
                kind="redemption",
                provider="redemption",
                pack_name=claimed.name,
                credits=amount * 10,
                credit_cents=amount,
                price_cents=0,
                discount_cents=0,
                amount_cents=0,
                currency="USD",
                status=order_states.first(order_states.COMPLETED),
                created_at=now,
                updated_at=now,
                completed_at=now,
            )
        )
        moved: Moved = await credit_merchant(
            conn,
            env=caller.env,
            merchant_id=caller.merchant_id,
            amount=amount,
            source="redemption",
            reference=order_id,
            memo=f"redemption code {claimed.id}",
            now=now,
            grant=grants.Grant("promotional", expires_at=claimed.expires_at),
        )
    data = RedeemData(
        order_id=order_id, env=caller.env, amount_cents=amount, balance_cents=moved.balance_cents
    )
    return Outcome(Code.SUCCESS, data.model_dump(), deliveries=moved.delivery_ids)
