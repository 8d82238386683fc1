"""Redemption codes: issued in batches, shown once, stored only as peppered hashes."""

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from keys import hash_code, mint_redemption_code

from ..store.engine import Database
from ..store.models import (
    RedemptionCode,
    table_of,
)
from ..store.rows import CoreRow
from ..values.clock import new_id, rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, OffsetMeta, Outcome
from ..values.settings import Settings
from .audit import Call, record
from .schemas import (
    CodeBatchData,
    CodeBatchRequest,
    CodeItem,
    CodeQuery,
)

__all__ = ["batch_csv", "create_codes", "list_codes", "void_code"]

_R = table_of(RedemptionCode)


# --- redemption codes ---


async def create_codes(
    db: Database, settings: Settings, call: Call, body: CodeBatchRequest
) -> Outcome:
    """Mint a batch; the codes leave only in this reply, the store keeps their hashes."""
    now = utcnow()
    pepper = settings.key_pepper.get_secret_value().encode()
    batch_id = new_id("rcb")
    codes = [mint_redemption_code() for _ in range(body.count)]
    async with db.transaction() as conn:
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
                "expires_at": rfc3339_or_none(body.expires_at),
            },
        )
    made = CodeBatchData(
        batch_id=batch_id,
        env=body.env,
        amount_cents=body.amount_cents,
        name=body.name,
        expires_at=rfc3339_or_none(body.expires_at),
        codes=codes,
    )
    return Outcome(Code.CREATED, made)


def _code_status(row: CoreRow, now: datetime) -> str:
    if row.redeemed_at is not None:
        return "redeemed"
    if row.voided_at is not None:
        return "voided"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "unused"


async def list_codes(db: Database, query: CodeQuery) -> Outcome:
    now = utcnow()
    filters: list[Any] = []
    if query.batch_id is not None:
        filters.append(_R.c.batch_id == query.batch_id)
    if query.env is not None:
        filters.append(_R.c.env == query.env)
    if query.status == "redeemed":
        filters.append(_R.c.redeemed_at.is_not(None))
    elif query.status == "voided":
        filters += [_R.c.redeemed_at.is_(None), _R.c.voided_at.is_not(None)]
    elif query.status == "expired":
        filters += [_R.c.redeemed_at.is_(None), _R.c.voided_at.is_(None), _R.c.expires_at <= now]
    elif query.status == "unused":
        filters += [
            _R.c.redeemed_at.is_(None),
            _R.c.voided_at.is_(None),
            (_R.c.expires_at.is_(None)) | (_R.c.expires_at > now),
        ]
    async with db.read() as conn:
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
                expires_at=rfc3339_or_none(r.expires_at),
                redeemed_at=rfc3339_or_none(r.redeemed_at),
                redeemed_by=r.redeemed_by,
                order_id=r.order_id,
                created_by=r.created_by,
                created_at=rfc3339(r.created_at),
                voided_at=rfc3339_or_none(r.voided_at),
            )
            for r in rows
        ]
    meta = OffsetMeta.of(query.limit, query.offset, len(items), total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def void_code(db: Database, call: Call, code_id: str) -> Outcome:
    """Void an unused code: one conditional UPDATE, so a redemption racing it either got there
    first (the code stays redeemed, and the void is refused) or finds it voided."""
    now = utcnow()
    async with db.transaction() as conn:
        voided = (
            await conn.execute(
                update(_R)
                .where(_R.c.id == code_id, _R.c.redeemed_at.is_(None), _R.c.voided_at.is_(None))
                .values(voided_at=now, voided_by=call.actor)
                .returning(_R.c.id)
            )
        ).first()
        row = (await conn.execute(select(_R).where(_R.c.id == code_id))).first()
        if row is None:
            raise ApiError(Code.REDEMPTION_CODE_NOT_FOUND)
        if voided is None:
            if row.redeemed_at is not None:
                raise ApiError(Code.REDEMPTION_CODE_USED)
            raise ApiError(Code.REDEMPTION_CODE_VOIDED)
        await record(conn, call, Code.SUCCESS, now, target_id=code_id, details={"voided": True})
    voided = CodeItem(
        id=row.id,
        batch_id=row.batch_id,
        name=row.name,
        env=row.env,
        amount_cents=row.amount_cents,
        hint=row.code_suffix,
        status="voided",
        expires_at=rfc3339_or_none(row.expires_at),
        redeemed_at=None,
        redeemed_by=None,
        order_id=None,
        created_by=row.created_by,
        created_at=rfc3339(row.created_at),
        voided_at=rfc3339(now),
    )
    return Outcome(Code.SUCCESS, voided, status="voided")


def batch_csv(batch: CodeBatchData) -> str:
    """A batch as CSV, when it is made: the one moment its codes exist in clear."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["code", "amount_cents", "env", "batch_id", "name", "expires_at"])
    for code in batch.codes:
        writer.writerow(
            [code, batch.amount_cents, batch.env, batch.batch_id, batch.name or "",
             batch.expires_at or ""]
        )  # fmt: skip
    return out.getvalue()
