"""The staging sandbox's checkout: the order its link names (the token proves the link was
given), its Pay button (the same completion a paid provider's report runs, amount and all) and
its cancel button, each refused with what the order became when it is no longer payable."""

import hmac
from typing import Any

from sqlalchemy import select

from ...store.engine import Database
from ...store.models import FundingOrder, table_of
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from ..channels.providers.sandbox import sandbox_token
from ..channels.registry import SANDBOX
from . import CANCELLED_REASON, Paid, complete_order, fail_order, lost

__all__ = ["cancel_sandbox", "pay_sandbox", "sandbox_order"]

_O = table_of(FundingOrder)


async def sandbox_order(db: Database, settings: Settings, order_id: str, token: str) -> Any:
    """The sandbox order the link names, if the token is the one the link was issued with."""
    if not hmac.compare_digest(sandbox_token(settings, order_id), token):
        raise ApiError(Code.ORDER_NOT_FOUND)
    async with db.read() as conn:
        order = (
            await conn.execute(select(_O).where(_O.c.id == order_id, _O.c.provider == SANDBOX))
        ).first()
    if order is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order


def _refusal(status: str | None) -> ApiError:
    """Why an order cannot be paid or cancelled, with the status it has now."""
    if status == "expired":
        return ApiError(Code.ORDER_EXPIRED, status=status)
    return ApiError(Code.ORDER_NOT_PAYABLE, status=status)


async def pay_sandbox(db: Database, settings: Settings, order_id: str, token: str) -> Outcome:
    """Pressing Pay: the same completion a paid Stripe event runs, amount and all. An expired
    order is expired here and then, and the refusal says so."""
    order = await sandbox_order(db, settings, order_id, token)
    if order.status != "pending":
        raise _refusal(order.status)
    paid = Paid(SANDBOX, None, order.amount_cents, order.currency)
    async with db.transaction() as conn:
        settled = await complete_order(conn, order_id, paid, utcnow())
    if settled.result != "credited":
        raise _refusal(settled.order_status)
    return Outcome(
        Code.SUCCESS,
        {"order_id": order_id},
        status=settled.order_status,
        deliveries=settled.deliveries,
    )


async def cancel_sandbox(db: Database, settings: Settings, order_id: str, token: str) -> Outcome:
    """Giving up on the sandbox page fails the order at once, if it is still pending and
    payable; if Pay (or the expiry) got there first, the refusal says what the order became."""
    order = await sandbox_order(db, settings, order_id, token)
    if order.status != "pending":
        raise _refusal(order.status)
    now = utcnow()
    async with db.transaction() as conn:
        settled = await fail_order(
            conn, order_id, CANCELLED_REASON, now, provider=SANDBOX, payable_at=now
        )
        if settled.result != "failed_order":
            settled = await lost(conn, order_id, now)
    if settled.result != "failed_order":
        raise _refusal(settled.order_status)
    return Outcome(Code.SUCCESS, {"order_id": order_id}, status="failed")
