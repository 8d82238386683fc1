"""A top-up and the balance as every door reads them: one top-up, a page of them (each voucher
hidden where the caller may not see it), and the wallet with what is held: by top-ups not yet
delivered, and by payments to sellers not yet used (held for approval, being made, or authorized
and not yet taken by the seller)."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..billing import subscriptions
from ..callers import Caller
from ..ledger import service as ledger
from ..store.engine import Database
from ..store.models import HELD_STATUSES, WALLET_HOLDING, SellerPayment, Topup, table_of
from ..store.paging import newest_first, split
from ..store.rows import CoreRow
from ..upstreams import work
from ..values.clock import rfc3339
from ..values.code_names import Code
from ..values.outcome import ApiError, CursorMeta, Outcome
from .schemas import BalanceData, TopupData

__all__ = ["balance", "get", "list_page", "mine", "read_balance", "read_one", "topup_data"]

_T = table_of(Topup)
_P = table_of(SellerPayment)


def topup_data(row: CoreRow, sealer: Sealer, *, hide_voucher: bool = False) -> TopupData:
    """``hide_voucher``: a code the caller may not see (``_hidden``)."""
    return TopupData(
        id=row.id,
        env=row.env,
        status=row.status,
        platform=row.platform,
        amount_cents=row.amount_cents,
        recipient_email=row.recipient_email,
        voucher_code=(
            sealer.open(row.voucher_sealed, context=row.id)
            if row.voucher_sealed and not hide_voucher
            else None
        ),
        new_balance_cents=row.recipient_balance_cents,
        metadata=row.metadata,
        failure_reason=row.failure_reason,
        approval_expires_at=(
            rfc3339(row.approval_expires_at) if row.approval_expires_at is not None else None
        ),
        redeemed_at=_when(getattr(row, "redeemed_at", None)),
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at),
    )


def _when(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def mine(caller: Caller) -> tuple[Any, ...]:
    return (_T.c.merchant_id == caller.merchant_id, _T.c.env == caller.env)


async def get(db: Database, sealer: Sealer, caller: Caller, txn_id: str) -> Outcome:
    async with db.read() as conn:
        found = await read_one(conn, sealer, caller, txn_id)
    return Outcome(Code.SUCCESS, found, transaction_id=found.id, status=found.status)


async def read_one(conn: AsyncConnection, sealer: Sealer, caller: Caller, txn_id: str) -> TopupData:
    """In the caller's read: the caller's top-up ``txn_id`` as every door shows it (the voucher
    hidden where the key may not see it), else ``TRANSACTION_NOT_FOUND``."""
    row = (await conn.execute(select(_T).where(_T.c.id == txn_id, *mine(caller)))).first()
    if row is None:
        raise ApiError(Code.TRANSACTION_NOT_FOUND)
    hidden = await _hidden(conn, caller, [row.id])
    return topup_data(row, sealer, hide_voucher=row.id in hidden)


async def list_page(
    db: Database, sealer: Sealer, caller: Caller, *, limit: int, cursor: str | None
) -> Outcome:
    """Newest first; ``cursor`` is the last id of the previous page. Ids sort by creation time."""
    stmt = newest_first(select(_T).where(*mine(caller)), _T.c.id, limit=limit, cursor=cursor)
    async with db.read() as conn:
        rows, more = split((await conn.execute(stmt)).all(), limit)
        hidden = await _hidden(conn, caller, [r.id for r in rows])
    page = [topup_data(r, sealer, hide_voucher=r.id in hidden) for r in rows]
    meta = CursorMeta.of(page, limit, more)
    return Outcome(Code.SUCCESS, page, meta=meta.model_dump())


async def _hidden(conn: AsyncConnection, caller: Caller, ids: list[str]) -> set[str]:
    """Of ``ids``, the top-ups whose code the caller may not see (``Caller.sees_codes``): the
    code is the money, and goes to the recipient alone."""
    if not ids or caller.sees_codes(upstream=True):
        return set()
    if not caller.sees_codes(upstream=False):
        return set(ids)
    return await work.fulfilled_by_upstream(conn, ids)


async def read_balance(conn: AsyncConnection, caller: Caller) -> BalanceData:
    # Each as written in its partial index, which it then uses.
    sends = (
        select(func.coalesce(func.sum(_T.c.amount_cents), 0))
        .where(*mine(caller))
        .where(text(HELD_STATUSES))
        .scalar_subquery()
    )
    payments = (
        select(func.coalesce(func.sum(_P.c.amount_cents), 0))
        .where(_P.c.merchant_id == caller.merchant_id, _P.c.env == caller.env)
        .where(text(WALLET_HOLDING))
        .scalar_subquery()
    )
    held = select(sends + payments)
    wallet = await ledger.balance(conn, caller.env, ledger.merchant_owner(caller.merchant_id))
    held_cents = int((await conn.execute(held)).scalar_one())
    return BalanceData(
        env=caller.env,
        balance_cents=0 if wallet is None else wallet.balance_cents,
        held_cents=held_cents,
        low_balance_threshold_cents=caller.low_balance_threshold_cents,
        subscription=await subscriptions.current(conn, caller.merchant_id, caller.env),
    )


async def balance(db: Database, caller: Caller) -> Outcome:
    """The wallet as every door shows it: available, and held by top-ups not yet delivered
    (pending, or awaiting approval), and by payments to sellers the wallet pays, which are
    debited already (``BalanceData``)."""
    async with db.read() as conn:
        found = await read_balance(conn, caller)
    return Outcome(Code.SUCCESS, found)
