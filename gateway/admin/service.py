"""What operators can do. Every change commits together with its audit row."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import hash_code, mint_redemption_code

from ..billing.funding import credit_merchant, debit_merchant
from ..clock import new_id, rfc3339, utcnow
from ..codes import Code
from ..envelope import ApiError
from ..ledger import service as ledger
from ..merchants import service as merchants
from ..settings import Settings
from ..store.db import Database
from ..store.models import (
    Adjustment,
    AuditRecord,
    Coupon,
    LedgerEntry,
    Merchant,
    Pack,
    RedemptionCode,
    Wallet,
    table_of,
)
from .audit import Call, record
from .schemas import (
    AdjustmentData,
    AdjustmentRequest,
    AuditItem,
    AuditQuery,
    CodeBatchData,
    CodeBatchRequest,
    CodeItem,
    CodeQuery,
    CouponCreate,
    CouponData,
    CouponUpdate,
    MerchantCreate,
    MerchantData,
    MerchantUpdate,
    PackAdminData,
    PackCreate,
    PackUpdate,
    TransactionItem,
    TransactionQuery,
)

__all__ = [
    "Adjusted",
    "adjust",
    "create_codes",
    "create_coupon",
    "create_merchant",
    "create_pack",
    "get_merchant",
    "list_audit",
    "list_codes",
    "list_coupons",
    "list_merchants",
    "list_packs",
    "list_transactions",
    "update_coupon",
    "update_merchant",
    "update_pack",
]

_M = table_of(Merchant)
_W = table_of(Wallet)
_L = table_of(LedgerEntry)
_P = table_of(Pack)
_C = table_of(Coupon)
_R = table_of(RedemptionCode)
_ADJ = table_of(Adjustment)
_A = table_of(AuditRecord)


def _ts(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


# --- merchants ---


async def _merchant_data(conn: AsyncConnection, row: Any) -> MerchantData:
    balances = {
        r.env: int(r.balance_cents)
        for r in await conn.execute(
            select(_W.c.env, _W.c.balance_cents).where(_W.c.owner == ledger.merchant_owner(row.id))
        )
    }
    return MerchantData(
        id=row.id,
        name=row.name,
        low_balance_threshold_cents=row.low_balance_threshold_cents,
        balances={"staging": balances.get("staging", 0), "live": balances.get("live", 0)},
        created_at=rfc3339(row.created_at),
    )


async def list_merchants(
    db: Database, *, limit: int, offset: int
) -> tuple[list[MerchantData], int]:
    async with db.engine.connect() as conn:
        total = int((await conn.execute(select(func.count()).select_from(_M))).scalar_one())
        rows = (
            await conn.execute(select(_M).order_by(_M.c.id.desc()).limit(limit).offset(offset))
        ).all()
        return [await _merchant_data(conn, r) for r in rows], total


async def get_merchant(db: Database, merchant_id: str) -> MerchantData:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(_M).where(_M.c.id == merchant_id))).first()
        if row is None:
            raise ApiError(Code.MERCHANT_NOT_FOUND)
        return await _merchant_data(conn, row)


async def create_merchant(
    db: Database, settings: Settings, call: Call, body: MerchantCreate
) -> MerchantData:
    now = utcnow()
    threshold = body.low_balance_threshold_cents
    if threshold is None:
        threshold = settings.default_low_balance_threshold_cents
    try:
        async with db.begin() as conn:
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
            return await _merchant_data(conn, row)
    except IntegrityError:  # a concurrent create with the same name won
        raise ApiError(Code.MERCHANT_NAME_TAKEN) from None


async def update_merchant(
    db: Database, call: Call, merchant_id: str, body: MerchantUpdate
) -> MerchantData:
    now = utcnow()
    async with db.begin() as conn:
        row = (
            await conn.execute(
                update(_M)
                .where(_M.c.id == merchant_id)
                .values(low_balance_threshold_cents=body.low_balance_threshold_cents)
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
            details={"low_balance_threshold_cents": body.low_balance_threshold_cents},
        )
        return await _merchant_data(conn, row)


# --- adjustments ---


@dataclass(slots=True)
class Adjusted:
    data: AdjustmentData
    delivery_ids: list[str] = field(default_factory=list)


async def adjust(db: Database, call: Call, merchant_id: str, body: AdjustmentRequest) -> Adjusted:
    """Credit or debit a merchant wallet by hand: never below zero, always with who and why in
    the ledger, the adjustments table and the audit log, all in one transaction."""
    now = utcnow()
    adj_id = new_id("adj")
    memo = f"{call.actor}: {body.reason}"[:500]
    async with db.begin() as conn:
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
            moved = await credit_merchant(conn, db, amount=body.amount_cents, **common)
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
                "balance_cents": moved.balance_cents,
            },
        )
    data = AdjustmentData(
        id=adj_id,
        merchant_id=merchant_id,
        env=body.env,
        amount_cents=body.amount_cents,
        reason=body.reason,
        actor=call.actor,
        balance_cents=moved.balance_cents,
        created_at=rfc3339(now),
    )
    return Adjusted(data, moved.delivery_ids)


# --- transactions ---


async def list_transactions(
    db: Database, query: TransactionQuery
) -> tuple[list[TransactionItem], int]:
    filters: list[Any] = []
    if query.merchant_id is not None:
        filters.append(_W.c.merchant_id == query.merchant_id)
    if query.env is not None:
        filters.append(_L.c.env == query.env)
    if query.type is not None:
        filters.append(_L.c.kind == query.type)
    if query.reference is not None:
        filters.append(_L.c.reference == query.reference)
    joined = _L.join(_W, _W.c.id == _L.c.wallet_id)
    async with db.engine.connect() as conn:
        total = int(
            (
                await conn.execute(select(func.count()).select_from(joined).where(*filters))
            ).scalar_one()
        )
        rows = await conn.execute(
            select(_L, _W.c.merchant_id)
            .select_from(joined)
            .where(*filters)
            .order_by(_L.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        items = [
            TransactionItem(
                id=r.id,
                wallet_id=r.wallet_id,
                merchant_id=r.merchant_id,
                env=r.env,
                type=r.kind,
                amount_cents=r.amount_cents,
                reference=r.reference,
                description=r.memo,
                created_at=rfc3339(r.created_at),
            )
            for r in rows
        ]
    return items, total


# --- packs ---


def _pack(row: Any) -> PackAdminData:
    return PackAdminData(
        id=row.id,
        name=row.name,
        price_cents=row.price_cents,
        currency=row.currency,
        credits=row.credits,
        credit_cents=row.credit_cents,
        popular=row.popular,
        active=row.active,
        sort_order=row.sort_order,
    )


async def list_packs(db: Database) -> list[PackAdminData]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(_P).order_by(_P.c.sort_order, _P.c.id))
        return [_pack(r) for r in rows]


async def create_pack(db: Database, call: Call, body: PackCreate) -> PackAdminData:
    now = utcnow()
    try:
        async with db.begin() as conn:
            if (await conn.execute(select(_P.c.id).where(_P.c.id == body.id))).first():
                raise ApiError(Code.PACK_ID_TAKEN)
            row = (
                await conn.execute(
                    insert(_P)
                    .values(
                        **body.model_dump(),
                        currency="USD",
                        credit_cents=body.credits // 10,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(_P)
                )
            ).one()
            await record(
                conn, call, Code.CREATED, now, target_id=body.id, details=body.model_dump()
            )
            return _pack(row)
    except IntegrityError:
        raise ApiError(Code.PACK_ID_TAKEN) from None


async def update_pack(db: Database, call: Call, pack_id: str, body: PackUpdate) -> PackAdminData:
    now = utcnow()
    changes = body.model_dump(exclude_unset=True)
    if "credits" in changes:
        changes["credit_cents"] = changes["credits"] // 10
    async with db.begin() as conn:
        row = (
            await conn.execute(
                update(_P).where(_P.c.id == pack_id).values(**changes, updated_at=now).returning(_P)
            )
        ).first()
        if row is None:
            raise ApiError(Code.PACK_NOT_FOUND)
        await record(conn, call, Code.SUCCESS, now, target_id=pack_id, details=changes)
        return _pack(row)


# --- coupons ---


def _coupon(row: Any) -> CouponData:
    return CouponData(
        id=row.id,
        code=row.code,
        percent_off=row.percent_off,
        amount_off_cents=row.amount_off_cents,
        pack_id=row.pack_id,
        expires_at=_ts(row.expires_at),
        max_uses=row.max_uses,
        uses=row.uses,
        active=row.active,
        created_at=rfc3339(row.created_at),
    )


async def list_coupons(db: Database) -> list[CouponData]:
    async with db.engine.connect() as conn:
        return [_coupon(r) for r in await conn.execute(select(_C).order_by(_C.c.id.desc()))]


def _audit_view(values: dict[str, Any]) -> dict[str, Any]:
    return {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in values.items()}


async def create_coupon(db: Database, call: Call, body: CouponCreate) -> CouponData:
    now = utcnow()
    code = body.code.upper()
    try:
        async with db.begin() as conn:
            if (await conn.execute(select(_C.c.id).where(_C.c.code == code))).first():
                raise ApiError(Code.COUPON_CODE_TAKEN)
            if (
                body.pack_id is not None
                and not (await conn.execute(select(_P.c.id).where(_P.c.id == body.pack_id))).first()
            ):
                raise ApiError(Code.PACK_NOT_FOUND)
            values = {**body.model_dump(), "code": code}
            row = (
                await conn.execute(
                    insert(_C)
                    .values(
                        id=new_id("cpn"),
                        **values,
                        uses=0,
                        active=True,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(_C)
                )
            ).one()
            await record(
                conn, call, Code.CREATED, now, target_id=row.id, details=_audit_view(values)
            )
            return _coupon(row)
    except IntegrityError:
        raise ApiError(Code.COUPON_CODE_TAKEN) from None


async def update_coupon(db: Database, call: Call, coupon_id: str, body: CouponUpdate) -> CouponData:
    now = utcnow()
    changes = body.model_dump(exclude_unset=True)
    async with db.begin() as conn:
        row = (
            await conn.execute(
                update(_C)
                .where(_C.c.id == coupon_id)
                .values(**changes, updated_at=now)
                .returning(_C)
            )
        ).first()
        if row is None:
            raise ApiError(Code.COUPON_NOT_FOUND)
        await record(
            conn, call, Code.SUCCESS, now, target_id=coupon_id, details=_audit_view(changes)
        )
        return _coupon(row)


# --- redemption codes ---


async def create_codes(
    db: Database, settings: Settings, call: Call, body: CodeBatchRequest
) -> CodeBatchData:
    """Mint a batch; the codes leave only in this reply, the store keeps their hashes."""
    now = utcnow()
    pepper = settings.key_pepper.get_secret_value().encode()
    batch_id = new_id("rcb")
    codes = [mint_redemption_code() for _ in range(body.count)]
    async with db.begin() as conn:
        await conn.execute(
            insert(_R),
            [
                {
                    "id": new_id("rdc"),
                    "batch_id": batch_id,
                    "name": body.name,
                    "env": body.env,
                    "amount_cents": body.amount_cents,
                    "code_hash": hash_code(code, pepper),
                    "code_suffix": code[-4:],
                    "expires_at": body.expires_at,
                    "redeemed_at": None,
                    "redeemed_by": None,
                    "order_id": None,
                    "created_by": call.actor,
                    "created_at": now,
                }
                for code in codes
            ],
        )
        await record(
            conn,
            call,
            Code.CREATED,
            now,
            target_id=batch_id,
            details={
                "count": body.count,
                "amount_cents": body.amount_cents,
                "env": body.env,
                "name": body.name,
                "expires_at": _ts(body.expires_at),
            },
        )
    return CodeBatchData(
        batch_id=batch_id,
        env=body.env,
        amount_cents=body.amount_cents,
        name=body.name,
        expires_at=_ts(body.expires_at),
        codes=codes,
    )


def _code_status(row: Any, now: datetime) -> str:
    if row.redeemed_at is not None:
        return "redeemed"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "unused"


async def list_codes(db: Database, query: CodeQuery) -> tuple[list[CodeItem], int]:
    now = utcnow()
    filters: list[Any] = []
    if query.batch_id is not None:
        filters.append(_R.c.batch_id == query.batch_id)
    if query.env is not None:
        filters.append(_R.c.env == query.env)
    if query.status == "redeemed":
        filters.append(_R.c.redeemed_at.is_not(None))
    elif query.status == "expired":
        filters += [_R.c.redeemed_at.is_(None), _R.c.expires_at <= now]
    elif query.status == "unused":
        filters += [
            _R.c.redeemed_at.is_(None),
            (_R.c.expires_at.is_(None)) | (_R.c.expires_at > now),
        ]
    async with db.engine.connect() as conn:
        total = int(
            (await conn.execute(select(func.count()).select_from(_R).where(*filters))).scalar_one()
        )
        rows = await conn.execute(
            select(_R)
            .where(*filters)
            .order_by(_R.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        items = [
            CodeItem(
                id=r.id,
                batch_id=r.batch_id,
                name=r.name,
                env=r.env,
                amount_cents=r.amount_cents,
                hint=r.code_suffix,
                status=_code_status(r, now),
                expires_at=_ts(r.expires_at),
                redeemed_at=_ts(r.redeemed_at),
                redeemed_by=r.redeemed_by,
                order_id=r.order_id,
                created_by=r.created_by,
                created_at=rfc3339(r.created_at),
            )
            for r in rows
        ]
    return items, total


# --- audit ---


async def list_audit(db: Database, query: AuditQuery) -> tuple[list[AuditItem], int]:
    filters: list[Any] = []
    if query.action is not None:
        filters.append(_A.c.action == query.action)
    if query.target_id is not None:
        filters.append(_A.c.target_id == query.target_id)
    if query.actor is not None:
        filters.append(_A.c.actor == query.actor)
    async with db.engine.connect() as conn:
        total = int(
            (await conn.execute(select(func.count()).select_from(_A).where(*filters))).scalar_one()
        )
        rows = await conn.execute(
            select(_A)
            .where(*filters)
            .order_by(_A.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        items = [
            AuditItem(
                id=r.id,
                actor=r.actor,
                action=r.action,
                method=r.method,
                path=r.path,
                target_id=r.target_id,
                status_code=r.status_code,
                code=r.code,
                details=r.details,
                request_id=r.request_id,
                created_at=rfc3339(r.created_at),
            )
            for r in rows
        ]
    return items, total
