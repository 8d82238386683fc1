"""Read-only views across merchants: every ledger transaction, and the audit log."""

from typing import Any

from sqlalchemy import func, select

from ..store.engine import Database
from ..store.models import (
    AuditRecord,
    LedgerEntry,
    Wallet,
    table_of,
)
from ..values.clock import rfc3339
from ..values.code_names import Code
from ..values.outcome import OffsetMeta, Outcome
from .schemas import (
    AuditItem,
    AuditQuery,
    TransactionItem,
    TransactionQuery,
)

__all__ = ["list_audit", "list_transactions"]

_W = table_of(Wallet)
_L = table_of(LedgerEntry)
_A = table_of(AuditRecord)


# --- transactions ---


async def list_transactions(db: Database, query: TransactionQuery) -> Outcome:
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
    async with db.read() as conn:
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
    meta = OffsetMeta.of(query.limit, query.offset, len(items), total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


# --- audit ---


async def list_audit(db: Database, query: AuditQuery) -> Outcome:
    filters: list[Any] = []
    if query.action is not None:
        filters.append(_A.c.action == query.action)
    if query.target_id is not None:
        filters.append(_A.c.target_id == query.target_id)
    if query.actor is not None:
        filters.append(_A.c.actor == query.actor)
    async with db.read() as conn:
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
    meta = OffsetMeta.of(query.limit, query.offset, len(items), total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())
