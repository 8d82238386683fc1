"""The staging sandbox's subscription pages, as a provider's hosted pages would be: its
checkout (Pay pays the first period, through ``subscriptions.credit_period`` under the period's
invoice id, ``providers.sandbox.period_invoice``) and its portal (change plan, cancel at period
end, resume, a card that fails). Its renewals are every channel's
(``subscriptions.renewals.renew_due``), each period's report made by the sandbox provider."""

import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ...store.engine import Database
from ...store.models import Plan, Subscription, table_of
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from ..channels.providers.sandbox import (
    add_interval,
    period_invoice,
    period_price,
    subscription_token,
)
from ..channels.registry import SANDBOX
from . import PaidPeriod, credit_period, subscription_data
from . import states as subscription_states
from .plans import find_plan
from .states import EXPIRED, INCOMPLETE

__all__ = [
    "cancel_sandbox",
    "pay_sandbox",
    "portal_page",
    "sandbox_action",
    "sandbox_subscription",
]

_S = table_of(Subscription)
_PL = table_of(Plan)


async def sandbox_subscription(
    db: Database, settings: Settings, sub_id: str, token: str, purpose: str = "checkout"
) -> tuple[Any, Any]:
    """The sandbox subscription the link names and its plan, if the token is the link's."""
    if not hmac.compare_digest(subscription_token(settings, sub_id, purpose), token):
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    async with db.read() as conn:
        row = (
            await conn.execute(select(_S).where(_S.c.id == sub_id, _S.c.provider == SANDBOX))
        ).first()
        if row is None:
            raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
        plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return row, plan


async def pay_sandbox(
    db: Database, settings: Settings, sub_id: str, token: str, *, now: datetime | None = None
) -> Outcome:
    """Pressing Pay on the sandbox checkout: its first period paid and credited, as Stripe's
    first ``invoice.paid`` would; refused once the checkout expired or was paid."""
    await sandbox_subscription(db, settings, sub_id, token)
    now = now or utcnow()
    async with db.transaction() as conn:
        sub = (
            await conn.execute(
                update(_S)
                .where(_S.c.id == sub_id, _S.c.status == "incomplete", _S.c.expires_at > now)
                .values(updated_at=now)
                .returning(_S)
            )
        ).first()
        if sub is None:
            raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
        plan = (await conn.execute(select(_PL).where(_PL.c.id == sub.plan_id))).one()
        paid = PaidPeriod(
            period_invoice(sub_id, 1),
            period_price(plan.price_monthly, plan.price_yearly, sub.interval),
            "usd",
            add_interval(now, sub.interval),
        )
        settled = await credit_period(conn, sub, paid, now)
    if settled.result != "credited":
        raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
    return Outcome(
        Code.SUCCESS, {"subscription_id": sub_id}, status="active", deliveries=settled.deliveries
    )


async def sandbox_action(
    db: Database,
    settings: Settings,
    sub_id: str,
    token: str,
    action: str,
    *,
    plan_id: str | None = None,
    interval: str | None = None,
    card_fails: bool | None = None,
    now: datetime | None = None,
) -> Outcome:
    """What a tester does on the sandbox portal: ``cancel`` (at the period's end), ``resume``,
    ``change`` (plan, and interval), ``card`` (the card to be declined at renewal, or not)."""
    sub, _ = await sandbox_subscription(db, settings, sub_id, token, "portal")
    now = now or utcnow()
    values: dict[str, Any] = {}
    if action == "cancel":
        values["cancel_at_period_end"] = True
    elif action == "resume":
        values["cancel_at_period_end"] = False
    elif action == "card" and card_fails is not None:
        values["card_fails"] = card_fails
    elif action == "change" and plan_id is not None:
        async with db.read() as conn:
            plan = await find_plan(conn, sub.env, plan_id, on_sale=True)
        values["plan_id"] = plan.id
        if interval in ("month", "year"):
            values["interval"] = interval
    else:
        raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                update(_S)
                .where(_S.c.id == sub_id, _S.c.status.in_(("active", "past_due")))
                .values(**values, updated_at=now)
                .returning(_S)
            )
        ).first()
        if row is None:
            raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
        plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return Outcome(Code.SUBSCRIPTION_CHANGED, subscription_data(row, plan), status=row.status)


async def cancel_sandbox(db: Database, settings: Settings, sub_id: str, token: str) -> Outcome:
    """Giving up on the sandbox checkout: the subscription is never opened, its place given
    back; refused if Pay got there first."""
    await sandbox_subscription(db, settings, sub_id, token)
    now = utcnow()
    async with db.transaction() as conn:
        moved = await subscription_states.move(
            conn, INCOMPLETE, EXPIRED, now, _S.c.id == sub_id, _S.c.periods_paid == 0
        )
    if not moved:
        raise ApiError(Code.SUBSCRIPTION_NOT_CHANGEABLE)
    return Outcome(Code.SUCCESS, {"subscription_id": sub_id}, status="expired")


async def portal_page(
    db: Database, settings: Settings, sub_id: str, token: str
) -> tuple[Any, Any, list[Any]]:
    """The sandbox portal's subscription, its plan, and the plans it may change to."""
    sub, plan = await sandbox_subscription(db, settings, sub_id, token, "portal")
    async with db.read() as conn:
        plans = list(
            await conn.execute(
                select(_PL)
                .where(_PL.c.env == sub.env, _PL.c.active.is_(True))
                .order_by(_PL.c.sort_order, _PL.c.id)
            )
        )
    return sub, plan, plans
