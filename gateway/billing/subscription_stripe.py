"""Stripe's side of subscriptions: its events (``on_stripe_event``, called by the webhook in
its transaction) and the reconciliation sweep that asks Stripe for a subscription and its paid
invoices when an event was lost. Both credit a paid period by ``subscriptions.credit_period`` and
move its state by ``subscriptions.move_state``: one rule, whichever comes first."""

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.db import Database
from ..store.models import Plan, Subscription, table_of
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import stripe_plans, subscription_states
from .orders import Settlement
from .subscription_states import EXPIRED, INCOMPLETE
from .subscriptions import (
    HOLDING,
    PERIOD_REASONS,
    FailedPeriod,
    PaidPeriod,
    credit_period,
    move_state,
    record_failure,
)

__all__ = ["check", "on_stripe_event", "sweep"]

log = logging.getLogger(__name__)

_S = table_of(Subscription)
_PL = table_of(Plan)

_STRIPE_STATES = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}
# --- Stripe's events ---


async def _find(conn: AsyncConnection, our_id: str | None, provider_id: str | None) -> Any:
    if our_id is not None:
        row = (
            await conn.execute(select(_S).where(_S.c.id == our_id, _S.c.provider == "stripe"))
        ).first()
        if row is not None:
            return row
    if provider_id is not None:
        return (
            await conn.execute(select(_S).where(_S.c.provider_subscription_id == provider_id))
        ).first()
    return None


async def _link(
    conn: AsyncConnection, sub: Any, subscription: str | None, customer: str | None
) -> None:
    """Keep Stripe's ids of the subscription and its customer, once known."""
    if subscription is not None and sub.provider_subscription_id is None:
        await conn.execute(
            update(_S)
            .where(_S.c.id == sub.id, _S.c.provider_subscription_id.is_(None))
            .values(provider_subscription_id=subscription[:255])
        )
    if customer is not None and sub.provider_customer_id is None:
        await conn.execute(
            update(_S)
            .where(_S.c.id == sub.id, _S.c.provider_customer_id.is_(None))
            .values(provider_customer_id=customer[:255])
        )


async def _plan_of_price(conn: AsyncConnection, env: str, price_id: str | None) -> str | None:
    if price_id is None:
        return None
    return (
        await conn.execute(
            select(_PL.c.id).where(
                _PL.c.env == env,
                or_(
                    _PL.c.stripe_price_monthly_id == price_id,
                    _PL.c.stripe_price_yearly_id == price_id,
                ),
            )
        )
    ).scalar()


async def _paid_invoice(
    conn: AsyncConnection,
    db: Database,
    sub: Any,
    found: stripe_plans.InvoiceFields,
    now: datetime,
    at: datetime,
) -> Settlement:
    """A paid invoice of ``sub`` from Stripe (an event, or the sweep's look)."""
    if found.billing_reason not in PERIOD_REASONS:
        return Settlement("not_a_period")
    if found.amount_paid is None or (found.currency or "").lower() != "usd":
        log.error("subscription %s: invoice %s not in USD or without amount", sub.id, found.id)
        return Settlement("mismatch")
    paid = PaidPeriod(
        invoice_id=found.id,
        amount_paid_cents=found.amount_paid,
        currency=found.currency or "usd",
        period_end=found.period_end,
        plan_id=await _plan_of_price(conn, sub.env, found.price_id),
    )
    return await credit_period(conn, db, sub, paid, now, at=at)


def _sent_at(created: int | None, now: datetime) -> datetime:
    return datetime.fromtimestamp(created, now.tzinfo) if created is not None else now


async def on_stripe_event(
    conn: AsyncConnection,
    db: Database,
    type_: str,
    obj: dict[str, Any],
    created: int | None,
    now: datetime,
) -> Settlement | None:
    """Stripe's event if it concerns a subscription, acted on in the caller's transaction;
    None if it does not (an order's)."""
    at = _sent_at(created, now)
    if type_.startswith("checkout.session."):
        if obj.get("mode") != "subscription":
            return None
        metadata = obj.get("metadata")
        our_id = metadata.get("subscription_id") if isinstance(metadata, dict) else None
        our_id = our_id if isinstance(our_id, str) else obj.get("client_reference_id")
        sub = await _find(conn, our_id if isinstance(our_id, str) else None, None)
        if sub is None:
            log.warning("stripe %s for an unknown subscription", type_)
            return Settlement("unknown_subscription")
        if type_ == "checkout.session.expired":
            await subscription_states.move(
                conn, INCOMPLETE, EXPIRED, now, _S.c.id == sub.id, _S.c.periods_paid == 0
            )
            return Settlement("subscription_checkout_expired")
        subscription = stripe_plans.subscription_fields({"id": obj.get("subscription")})
        customer = obj.get("customer")
        await _link(
            conn,
            sub,
            subscription.id if subscription is not None else None,
            customer if isinstance(customer, str) else None,
        )
        return Settlement("subscription_linked")
    if type_.startswith("invoice."):
        found = stripe_plans.invoice_fields(obj)
        if found is None or (found.subscription is None and found.our_id is None):
            return None
        sub = await _find(conn, found.our_id, found.subscription)
        if sub is None:
            log.warning("stripe %s for an unknown subscription", type_)
            return Settlement("unknown_subscription")
        await _link(conn, sub, found.subscription, found.customer)
        if type_ in ("invoice.paid", "invoice.payment_succeeded"):
            if found.status not in ("paid", None):
                return Settlement("not_paid")
            return await _paid_invoice(conn, db, sub, found, now, at)
        if type_ == "invoice.payment_failed":
            if found.billing_reason in PERIOD_REASONS:
                failed = FailedPeriod(
                    found.id,
                    found.amount_due or 0,
                    found.currency or "usd",
                    found.period_start,
                    found.period_end,
                )
                await record_failure(conn, sub, failed, now)
            return Settlement(
                "past_due", await move_state(conn, sub.id, at, now, status="past_due")
            )
        return Settlement("ignored")
    if type_.startswith("customer.subscription."):
        fields = stripe_plans.subscription_fields(obj)
        if fields is None:
            return Settlement("ignored")
        sub = await _find(conn, fields.our_id, fields.id)
        if sub is None:
            log.warning("stripe %s for an unknown subscription", type_)
            return Settlement("unknown_subscription")
        await _link(conn, sub, fields.id, fields.customer)
        status = "canceled" if type_ == "customer.subscription.deleted" else None
        deliveries = await move_state(
            conn,
            sub.id,
            at,
            now,
            status=status or _STRIPE_STATES.get(fields.status or ""),
            cancel_at_period_end=fields.cancel_at_period_end,
            current_period_end=fields.current_period_end,
            plan_id=await _plan_of_price(conn, sub.env, fields.price_id),
        )
        return Settlement("subscription_updated", deliveries)
    return None


# --- reconciliation ---


async def _due_for_look(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Stripe subscriptions to look at: not paid yet, past due, or past their period's end
    (a renewal's ``invoice.paid`` not seen), not looked at in the last while."""
    before = now - timedelta(seconds=settings.reconcile_after_seconds)
    stmt = (
        select(_S.c.id)
        .where(
            _S.c.provider == "stripe",
            _S.c.status.in_(HOLDING),
            _S.c.created_at <= before,
            or_(_S.c.checked_at.is_(None), _S.c.checked_at <= before),
            # Open checkouts, and periods that ended with no paid invoice seen since.
            or_(
                _S.c.status != "active",
                _S.c.current_period_end.is_(None),
                _S.c.current_period_end <= now,
            ),
        )
        .order_by(_S.c.checked_at.is_not(None), _S.c.checked_at, _S.c.created_at)
        .limit(settings.reconcile_batch)
    )
    async with db.read() as conn:
        return list((await conn.execute(stmt)).scalars())


async def check(db: Database, settings: Settings, sub_id: str, now: datetime) -> Outcome:
    """Ask Stripe for the subscription (through its checkout session while we lack its id)
    and its paid invoices, then credit each paid period not credited yet, by the very rule
    the webhook uses, and apply its state as of now."""
    async with db.read() as conn:
        sub = (await conn.execute(select(_S).where(_S.c.id == sub_id))).one()
    looked = await stripe_plans.look_up_subscription(
        settings, session_id=sub.provider_session_id, subscription_id=sub.provider_subscription_id
    )
    deliveries: list[str] = []
    credited = 0
    async with db.transaction() as conn:
        found = looked.subscription
        if found is None:
            if looked.session_status == "expired":
                await subscription_states.move(
                    conn, INCOMPLETE, EXPIRED, now, _S.c.id == sub_id, _S.c.periods_paid == 0
                )
        else:
            await _link(conn, sub, found.id, found.customer)
            for invoice in reversed(looked.paid):  # oldest first: the first is the creation
                settled = await _paid_invoice(conn, db, sub, invoice, now, now)
                credited += settled.result == "credited"
                deliveries += settled.deliveries
            deliveries += await move_state(
                conn,
                sub_id,
                now,
                now,
                status=_STRIPE_STATES.get(found.status or ""),
                cancel_at_period_end=found.cancel_at_period_end,
                current_period_end=found.current_period_end,
                plan_id=await _plan_of_price(conn, sub.env, found.price_id),
            )
        await conn.execute(update(_S).where(_S.c.id == sub_id).values(checked_at=now))
    data = {"subscription_id": sub_id, "credited": credited}
    return Outcome(Code.SUBSCRIPTION_CHECKED, data, deliveries=deliveries)


async def sweep(db: Database, settings: Settings, *, now: datetime | None = None) -> list[Outcome]:
    """The worker's look at every Stripe subscription not looked at lately; one Stripe will
    not answer for waits for the next sweep."""
    now = now or utcnow()
    done: list[Outcome] = []
    for sub_id in await _due_for_look(db, settings, now):
        try:
            done.append(await check(db, settings, sub_id, now))
        except ApiError as exc:
            log.warning("subscription %s not reconciled: %s", sub_id, exc.code.name)
    return done
