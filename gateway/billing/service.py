"""What a merchant reads about funding: the packs on offer, its funding history and its ledger."""

from typing import Any

from sqlalchemy import func, select

from ..callers import Caller
from ..clock import rfc3339, rfc3339_or_none
from ..ledger import service as ledger
from ..store.db import Database
from ..store.models import (
    FundingOrder,
    LedgerEntry,
    Pack,
    table_of,
)
from .schemas import (
    HISTORY_PAGE_SIZE,
    HistoryItem,
    LedgerItem,
    PackData,
)

__all__ = ["history", "ledger_item", "list_packs", "transactions"]


_P = table_of(Pack)
_O = table_of(FundingOrder)
_L = table_of(LedgerEntry)


def _pack_data(row: Any) -> PackData:
    return PackData.model_validate(row)


async def list_packs(db: Database) -> list[PackData]:
    stmt = select(_P).where(_P.c.active.is_(True)).order_by(_P.c.sort_order, _P.c.id)
    async with db.read() as conn:
        return [_pack_data(r) for r in await conn.execute(stmt)]


def _history_item(row: Any) -> HistoryItem:
    return HistoryItem(
        id=row.id,
        kind=row.kind,
        provider=row.provider,
        pack_id=row.pack_id,
        pack_name=row.pack_name,
        credits=row.credits,
        credit_cents=row.credit_cents,
        amount_paid_cents=row.amount_cents,
        discount_cents=row.discount_cents,
        currency=row.currency,
        status=row.status,
        failure_reason=row.failure_reason,
        expires_at=rfc3339_or_none(row.expires_at),
        created_at=rfc3339(row.created_at),
        completed_at=rfc3339_or_none(row.completed_at),
    )


async def history(db: Database, caller: Caller, page: int) -> tuple[list[HistoryItem], int]:
    """One page (20, newest first) of the caller's orders and redemptions, and the total."""
    mine = (_O.c.merchant_id == caller.merchant_id, _O.c.env == caller.env)
    async with db.read() as conn:
        total = int((await conn.execute(select(func.count()).where(*mine))).scalar_one())
        rows = await conn.execute(
            select(_O)
            .where(*mine)
            .order_by(_O.c.id.desc())
            .limit(HISTORY_PAGE_SIZE)
            .offset((page - 1) * HISTORY_PAGE_SIZE)
        )
        return [_history_item(r) for r in rows], total


def ledger_item(row: Any) -> LedgerItem:
    return LedgerItem(
        id=row.id,
        env=row.env,
        type=row.kind,
        amount_cents=row.amount_cents,
        reference=row.reference,
        description=row.memo,
        created_at=rfc3339(row.created_at),
    )


async def transactions(
    db: Database, caller: Caller, *, limit: int, offset: int
) -> tuple[list[LedgerItem], int]:
    """The caller's wallet ledger in its env, newest first, and the number of entries."""
    async with db.read() as conn:
        wallet = await ledger.balance(conn, caller.env, ledger.merchant_owner(caller.merchant_id))
        if wallet is None:
            return [], 0
        mine = _L.c.wallet_id == wallet.wallet_id
        total = int((await conn.execute(select(func.count()).where(mine))).scalar_one())
        rows = await conn.execute(
            select(_L).where(mine).order_by(_L.c.id.desc()).limit(limit).offset(offset)
        )
        return [ledger_item(r) for r in rows], total
