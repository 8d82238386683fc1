"""What merchants can buy: packs and the coupons that discount them."""

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..billing.orders import coupon_uses
from ..store.engine import Database
from ..store.models import (
    Coupon,
    Pack,
    table_of,
)
from ..store.rows import CoreRow
from ..values.clock import new_id, rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .audit import Call, record
from .schemas import (
    CouponCreate,
    CouponData,
    CouponUpdate,
    PackAdminData,
    PackCreate,
    PackUpdate,
)

__all__ = [
    "create_coupon",
    "create_pack",
    "list_coupons",
    "list_packs",
    "update_coupon",
    "update_pack",
]

_P = table_of(Pack)
_C = table_of(Coupon)


# --- packs ---


def _pack(row: CoreRow) -> PackAdminData:
    return PackAdminData.model_validate(row)


async def list_packs(db: Database) -> Outcome:
    async with db.read() as conn:
        rows = await conn.execute(select(_P).order_by(_P.c.sort_order, _P.c.id))
        return Outcome(Code.SUCCESS, [_pack(r) for r in rows])


async def create_pack(db: Database, call: Call, body: PackCreate) -> Outcome:
    now = utcnow()
    try:
        async with db.transaction() as conn:
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
            return Outcome(Code.CREATED, _pack(row))
    except IntegrityError:
        raise ApiError(Code.PACK_ID_TAKEN) from None


async def update_pack(db: Database, call: Call, pack_id: str, body: PackUpdate) -> Outcome:
    now = utcnow()
    changes = body.model_dump(exclude_unset=True)
    if "credits" in changes:
        changes["credit_cents"] = changes["credits"] // 10
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                update(_P).where(_P.c.id == pack_id).values(**changes, updated_at=now).returning(_P)
            )
        ).first()
        if row is None:
            raise ApiError(Code.PACK_NOT_FOUND)
        await record(conn, call, Code.SUCCESS, now, target_id=pack_id, details=changes)
        return Outcome(Code.SUCCESS, _pack(row))


# --- coupons ---


def _coupon(row: CoreRow, uses: dict[str, int]) -> CouponData:
    return CouponData(
        id=row.id,
        code=row.code,
        percent_off=row.percent_off,
        amount_off_cents=row.amount_off_cents,
        pack_id=row.pack_id,
        expires_at=rfc3339_or_none(row.expires_at),
        max_uses=row.max_uses,
        uses=uses["live"],
        uses_by_env=uses,
        active=row.active,
        created_at=rfc3339(row.created_at),
    )


async def _coupons(conn: AsyncConnection, rows: list[Any]) -> list[CouponData]:
    uses = await coupon_uses(conn, [r.id for r in rows])
    return [_coupon(r, uses[r.id]) for r in rows]


async def list_coupons(db: Database) -> Outcome:
    async with db.read() as conn:
        rows = (await conn.execute(select(_C).order_by(_C.c.id.desc()))).all()
        return Outcome(Code.SUCCESS, await _coupons(conn, list(rows)))


def _audit_view(values: dict[str, Any]) -> dict[str, Any]:
    return {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in values.items()}


async def create_coupon(db: Database, call: Call, body: CouponCreate) -> Outcome:
    now = utcnow()
    code = body.code.upper()
    try:
        async with db.transaction() as conn:
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
            [created] = await _coupons(conn, [row])
            return Outcome(Code.CREATED, created)
    except IntegrityError:
        raise ApiError(Code.COUPON_CODE_TAKEN) from None


async def update_coupon(db: Database, call: Call, coupon_id: str, body: CouponUpdate) -> Outcome:
    now = utcnow()
    changes = body.model_dump(exclude_unset=True)
    async with db.transaction() as conn:
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
        [updated] = await _coupons(conn, [row])
        return Outcome(Code.SUCCESS, updated)
