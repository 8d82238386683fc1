"""Merchants as operators see them, and manual adjustments of their wallets (reason required,
recorded in the adjustments table and the audit log; the merchant sees a memo of its own).
"""

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..billing.wallet.funding import credit_merchant, debit_merchant
from ..ledger import grants
from ..ledger import service as ledger
from ..merchants import preferences
from ..merchants import service as merchants
from ..store.engine import Database
from ..store.models import (
    Adjustment,
    Merchant,
    Wallet,
    table_of,
)
from ..store.rows import CoreRow
from ..values.clock import new_id, rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, OffsetMeta, Outcome
from ..values.settings import Settings
from .audit import Call, record
from .schemas import (
    NEUTRAL_MEMO,
    AdjustmentData,
    AdjustmentRequest,
    MerchantCreate,
    MerchantData,
    MerchantRetention,
    MerchantUpdate,
)

__all__ = [
    "adjust",
    "create_merchant",
    "get_merchant",
    "list_merchants",
    "set_retention",
    "update_merchant",
]

_M = table_of(Merchant)
_W = table_of(Wallet)
_ADJ = table_of(Adjustment)


# --- merchants ---


async def _merchant_data(conn: AsyncConnection, row: CoreRow) -> MerchantData:
    balances = {
        r.env: int(r.balance_cents)
        for r in await conn.execute(
            select(_W.c.env, _W.c.balance_cents).where(_W.c.owner == ledger.merchant_owner(row.id))
        )
    }
    found = await preferences.read(conn, row.id)
    return MerchantData(
        id=row.id,
        name=row.name,
        low_balance_threshold_cents=row.low_balance_threshold_cents,
        notify_recipients=bool(row.notify_recipients),
        low_balance_thresholds=found.low_balance_threshold_cents if found else {},
        balances={"staging": balances.get("staging", 0), "live": balances.get("live", 0)},
        created_at=rfc3339(row.created_at),
        retention_days=row.retention_days,
    )


async def list_merchants(db: Database, *, limit: int, offset: int) -> Outcome:
    """Newest first; ``meta`` is the ``OffsetMeta``."""
    async with db.read() as conn:
        total = int((await conn.execute(select(func.count()).select_from(_M))).scalar_one())
        rows = (
            await conn.execute(select(_M).order_by(_M.c.id.desc()).limit(limit).offset(offset))
        ).all()
        items = [await _merchant_data(conn, r) for r in rows]
    meta = OffsetMeta.of(limit, offset, len(items), total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def get_merchant(db: Database, merchant_id: str) -> Outcome:
    async with db.read() as conn:
        row = (await conn.execute(select(_M).where(_M.c.id == merchant_id))).first()
        if row is None:
            raise ApiError(Code.MERCHANT_NOT_FOUND)
        return Outcome(Code.SUCCESS, await _merchant_data(conn, row))


async def create_merchant(
    db: Database, settings: Settings, call: Call, body: MerchantCreate
) -> Outcome:
    now = utcnow()
    threshold = body.low_balance_threshold_cents
    if threshold is None:
        threshold = settings.default_low_balance_threshold_cents
    async with db.transaction() as conn:
        # A courtesy to operators, who mean one merchant a name: names are labels (a sign-up
        # may pick any), so the store does not hold them unique and nothing looks one up.
        taken = (await conn.execute(select(_M.c.id).where(_M.c.name == body.name))).first()
        if taken is not None:
            raise ApiError(Code.MERCHANT_NAME_TAKEN)
        merchant = await merchants.create_merchant(
            conn,
            db,
            name=body.name,
            low_balance_threshold_cents=threshold,
            staging_initial_balance_cents=settings.staging_initial_balance_cents,
            now=now,
        )
        await record(
            conn,
            call,
            Code.CREATED,
            now,
            target_id=merchant.id,
            details={"name": body.name, "low_balance_threshold_cents": threshold},
        )
        row = (await conn.execute(select(_M).where(_M.c.id == merchant.id))).one()
        return Outcome(Code.CREATED, await _merchant_data(conn, row))


async def update_merchant(
    db: Database, call: Call, merchant_id: str, body: MerchantUpdate
) -> Outcome:
    now = utcnow()
    async with db.transaction() as conn:
        row = (await conn.execute(select(_M).where(_M.c.id == merchant_id))).first()
        if row is None:
            raise ApiError(Code.MERCHANT_NOT_FOUND)
        details: dict[str, Any] = {}
        if body.notify_recipients is not None:
            notify = body.notify_recipients
            row = (
                await conn.execute(
                    update(_M)
                    .where(_M.c.id == merchant_id)
                    .values(notify_recipients=notify)
                    .returning(_M)
                )
            ).one()
            details["notify_recipients"] = notify
        cents = body.low_balance_threshold_cents
        if cents is not None:
            if body.env is None:  # both environments, and the default of the merchant's row
                row = (
                    await conn.execute(
                        update(_M)
                        .where(_M.c.id == merchant_id)
                        .values(low_balance_threshold_cents=cents)
                        .returning(_M)
                    )
                ).one()
            envs = [body.env] if body.env is not None else ["staging", "live"]
            thresholds = dict.fromkeys(envs, cents)
            change = preferences.SettingsUpdate(low_balance_threshold_cents=thresholds)
            await preferences.update_settings(conn, merchant_id, change)
            details |= {"low_balance_threshold_cents": cents, "env": body.env}
        await record(conn, call, Code.SUCCESS, now, target_id=merchant_id, details=details)
        return Outcome(Code.SUCCESS, await _merchant_data(conn, row))


async def set_retention(
    db: Database, call: Call, merchant_id: str, body: MerchantRetention
) -> Outcome:
    """The merchant's own retention of webhook history, or back to the default (null)."""
    now = utcnow()
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                update(_M)
                .where(_M.c.id == merchant_id)
                .values(retention_days=body.retention_days)
                .returning(_M)
            )
        ).first()
        if row is None:
            raise ApiError(Code.MERCHANT_NOT_FOUND)
        await record(
            conn,
            call,
            Code.SUCCESS,
            now,
            target_id=merchant_id,
            details={"retention_days": body.retention_days},
        )
        return Outcome(Code.SUCCESS, await _merchant_data(conn, row))


# --- adjustments ---


async def adjust(db: Database, call: Call, merchant_id: str, body: AdjustmentRequest) -> Outcome:
    """Credit or debit a merchant wallet by hand: never below zero, always with who and why in
    the adjustments table and the audit log, all in one transaction.

    Who and why are the operators' own: the ledger entry the merchant reads and the ``wallet.*``
    event it receives carry the merchant-facing memo only (a neutral one when none is given)."""
    now = utcnow()
    adj_id = new_id("adj")
    memo = body.memo or NEUTRAL_MEMO
    async with db.transaction() as conn:
        exists = (await conn.execute(select(_M.c.id).where(_M.c.id == merchant_id))).first()
        if exists is None:
            raise ApiError(Code.MERCHANT_NOT_FOUND)
        common: dict[str, Any] = {
            "env": body.env,
            "merchant_id": merchant_id,
            "source": "adjustment",
            "reference": adj_id,
            "memo": memo,
            "now": now,
        }
        if body.amount_cents > 0:
            # An operator's gift (Stripe's promotional grant), drawn before bought credit.
            gift = grants.Grant("promotional")
            moved = await credit_merchant(conn, amount=body.amount_cents, grant=gift, **common)
        else:
            debited = await debit_merchant(conn, amount=-body.amount_cents, **common)
            if debited is None:
                raise ApiError(Code.ADJUSTMENT_BELOW_ZERO)
            moved = debited
        await conn.execute(
            insert(_ADJ).values(
                id=adj_id,
                merchant_id=merchant_id,
                env=body.env,
                amount_cents=body.amount_cents,
                reason=body.reason,
                actor=call.actor,
                balance_after_cents=moved.balance_cents,
                created_at=now,
            )
        )
        await record(
            conn,
            call,
            Code.CREATED,
            now,
            target_id=merchant_id,
            details={
                "adjustment_id": adj_id,
                "env": body.env,
                "amount_cents": body.amount_cents,
                "reason": body.reason,
                "memo": memo,
                "balance_cents": moved.balance_cents,
            },
        )
    data = AdjustmentData(
        id=adj_id,
        merchant_id=merchant_id,
        env=body.env,
        amount_cents=body.amount_cents,
        reason=body.reason,
        memo=memo,
        actor=call.actor,
        balance_cents=moved.balance_cents,
        created_at=rfc3339(now),
    )
    return Outcome(Code.CREATED, data.model_dump(), deliveries=moved.delivery_ids)
