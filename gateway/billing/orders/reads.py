"""An order's reads: the caller's orders (``list_orders``, ``get_order``) and its funding history
(``history``: its orders and redemptions a page at a time), by the one row mapping each
(``order_data``, ``history``'s items) and the one rule of which orders are the caller's
(``mine``)."""

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from ...callers import Caller
from ...store.engine import Database
from ...store.models import Coupon, FundingOrder, table_of
from ...values.clock import rfc3339, rfc3339_or_none
from ...values.code_names import Code
from ...values.outcome import ApiError, OffsetMeta, Outcome, PageMeta
from ..schemas import HISTORY_PAGE_SIZE, HistoryItem, OrderData

__all__ = ["get_order", "history", "list_orders", "mine", "order_data", "orders_select"]

_C = table_of(Coupon)
_O = table_of(FundingOrder)


def _order_fields(row: Any) -> dict[str, Any]:
    """An order row's fields that the history and the order read alike (``_OrderFields``)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "provider": row.provider,
        "pack_id": row.pack_id,
        "credits": row.credits,
        "credit_cents": row.credit_cents,
        "discount_cents": row.discount_cents,
        "currency": row.currency,
        "status": row.status,
        "failure_reason": row.failure_reason,
        "expires_at": rfc3339_or_none(row.expires_at),
        "created_at": rfc3339(row.created_at),
        "completed_at": rfc3339_or_none(row.completed_at),
    }


def _history_item(row: Any) -> HistoryItem:
    """An order as the history lists it: what it charges, and what was paid, which is nothing
    until it completes."""
    return HistoryItem(
        **_order_fields(row),
        pack_name=row.pack_name,
        amount_paid_cents=row.amount_cents if row.status == "completed" else 0,
        amount_due_cents=row.amount_cents,
        channel=row.channel,
    )


def mine(caller: Caller, status: str | None) -> list[ColumnElement[bool]]:
    """The caller's orders in its env (of one ``status``, when named), as a ``where``."""
    found = [_O.c.merchant_id == caller.merchant_id, _O.c.env == caller.env]
    if status is not None:
        found.append(_O.c.status == status)
    return found


async def history(db: Database, caller: Caller, page: int, status: str | None = None) -> Outcome:
    """One page (20, newest first) of the caller's orders and redemptions (of one status, when
    named); ``meta`` is the ``PageMeta`` with the total."""
    theirs = mine(caller, status)
    async with db.read() as conn:
        total = int((await conn.execute(select(func.count()).where(*theirs))).scalar_one())
        rows = await conn.execute(
            select(_O)
            .where(*theirs)
            .order_by(_O.c.id.desc())
            .limit(HISTORY_PAGE_SIZE)
            .offset((page - 1) * HISTORY_PAGE_SIZE)
        )
        items = [_history_item(r) for r in rows]
    meta = PageMeta(current_page=page, per_page=HISTORY_PAGE_SIZE, total=total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


def orders_select() -> Select[Any]:
    """Orders with their coupon's code: what ``order_data`` reads."""
    return select(_O, _C.c.code.label("coupon_code")).outerjoin(_C, _C.c.id == _O.c.coupon_id)


def order_data(row: Any) -> OrderData:
    return OrderData(
        **_order_fields(row),
        env=row.env,
        channel=row.channel,
        provider_reference=row.provider_session_id,
        provider_payment_id=row.provider_payment_id,
        provider_status=row.provider_status,
        name=row.pack_name,
        price_cents=row.price_cents,
        tier_percent=row.tier_percent,
        tier_discount_cents=row.tier_discount_cents,
        coupon=row.coupon_code,
        amount_cents=row.amount_cents,
        updated_at=rfc3339(row.updated_at),
        checked_at=rfc3339_or_none(row.checked_at),
        invoice_url=row.checkout_url if row.kind == "invoice" else None,
        charge_minor=row.charge_minor,
        charge_currency=row.charge_currency,
        charge_rate=row.charge_rate,
    )


async def list_orders(
    db: Database, caller: Caller, *, limit: int, offset: int, status: str | None
) -> Outcome:
    """The caller's orders in its env (of one status, when named), newest first; ``meta`` is
    the ``OffsetMeta`` with how many."""
    theirs = mine(caller, status)
    async with db.read() as conn:
        total = int((await conn.execute(select(func.count()).where(*theirs))).scalar_one())
        rows = await conn.execute(
            orders_select().where(*theirs).order_by(_O.c.id.desc()).limit(limit).offset(offset)
        )
        items = [order_data(r) for r in rows]
    meta = OffsetMeta.of(limit, offset, len(items), total)
    return Outcome(Code.SUCCESS, items, meta=meta.model_dump())


async def get_order(db: Database, caller: Caller, order_id: str) -> Outcome:
    """One of the caller's orders in its env; another merchant's, or the other env's, is not
    found."""
    async with db.read() as conn:
        row = (
            await conn.execute(orders_select().where(_O.c.id == order_id, *mine(caller, None)))
        ).first()
    if row is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return Outcome(Code.SUCCESS, order_data(row), status=row.status)
