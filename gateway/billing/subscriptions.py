"""Subscriptions: a merchant's plan, paid each period, each paid period credited exactly once.

One place per merchant and environment: a subscription holds it while ``incomplete`` (its
checkout open), ``active`` or ``past_due`` (``ix_subscriptions_holder``, a unique partial
index), so two checkouts racing cannot both open one; a checkout that can no longer be paid
gives the place back (``expired``) when the next one is opened.

A paid period is one row of ``subscription_invoices`` keyed by the provider's invoice id, written
by ``credit_period`` in the same transaction as its wallet credit, ledger entry
(``subscription_credit``) and events: Stripe's ``invoice.paid`` (however often, in whatever
order beside ``checkout.session.completed`` and ``customer.subscription.*``), the reconciliation
sweep that asks Stripe for a subscription's paid invoices, and the sandbox's renewals
(``renew_due``) all go through it, so whichever comes first credits and every other finds the
row. What the provider says of the state (``customer.subscription.updated``,
``invoice.payment_failed``) is applied only if it is not older than what was applied before
(``state_at``); ``canceled`` is final.
"""

import calendar
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import outbox
from ..callers import Caller
from ..mail.links import public_base
from ..store.compose import upsert
from ..store.db import Database
from ..store.models import Plan, Subscription, SubscriptionInvoice, table_of
from ..store.types import UTCDateTime
from ..values.clock import new_id, rfc3339, rfc3339_or_none, utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import stripe_plans
from .funding import credit_merchant
from .orders import STRIPE_SESSION_TTL, Settlement, check_return_urls, checkout
from .plan_schemas import (
    PaymentSessionData,
    PaymentSessionRequest,
    PortalData,
    SubscriptionData,
    SubscriptionReply,
)
from .plans import find_plan, plan_data
from .schemas import CheckoutData, CheckoutRequest
from .service import wallet_url

__all__ = [
    "CREDIT_KIND",
    "HOLDING",
    "SANDBOX_PATH",
    "PaidPeriod",
    "add_interval",
    "cancel_sandbox",
    "check",
    "create_session",
    "credit_period",
    "current",
    "get_subscription",
    "move_state",
    "on_stripe_event",
    "open_portal",
    "pay_sandbox",
    "portal_page",
    "renew_due",
    "sandbox_action",
    "sandbox_subscription",
    "sandbox_token",
    "sweep",
]

log = logging.getLogger(__name__)

_S = table_of(Subscription)
_SI = table_of(SubscriptionInvoice)
_PL = table_of(Plan)

CREDIT_KIND = "subscription_credit"
HOLDING = ("incomplete", "active", "past_due")
FINAL = ("canceled", "expired")
# The invoices that pay a period (Stripe's ``billing_reason``); a proration is not one.
PERIOD_REASONS = frozenset({"subscription_create", "subscription_cycle", None})
# Periods ``renew_due`` pays for one subscription in one call, at most.
MAX_RENEWALS = 120

CREATED = "subscription.created"
RENEWED = "subscription.renewed"
PAST_DUE = "subscription.past_due"
CANCELED = "subscription.canceled"

SANDBOX_PATH = "/api/public/v1/subscription/sandbox"


# --- reading ---


def _data(row: Any, plan: Any) -> SubscriptionData:
    return SubscriptionData(
        id=row.id,
        plan=plan_data(plan),
        interval=row.interval,
        status=row.status,
        current_period_end=rfc3339_or_none(row.current_period_end),
        cancel_at_period_end=row.cancel_at_period_end,
        periods_paid=row.periods_paid,
    )


async def current(conn: AsyncConnection, merchant_id: str, env: str) -> SubscriptionData | None:
    """The merchant's subscription in ``env`` as every door shows it: the newest that was paid
    for or is canceled (an unpaid checkout is not one yet), or None."""
    row = (
        await conn.execute(
            select(_S)
            .where(
                _S.c.merchant_id == merchant_id,
                _S.c.env == env,
                _S.c.status.in_(("active", "past_due", "canceled")),
            )
            .order_by(_S.c.status.in_(("active", "past_due")).desc(), _S.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return _data(row, plan)


async def get_subscription(db: Database, caller: Caller) -> Outcome:
    async with db.read() as conn:
        found = await current(conn, caller.merchant_id, caller.env)
    status = None if found is None else found.status
    return Outcome(Code.SUCCESS, SubscriptionReply(subscription=found), status=status)


# --- crediting a paid period, once ---


@dataclass(frozen=True, slots=True)
class PaidPeriod:
    """A paid invoice of a subscription: its id (the key of its one credit), what was paid,
    when the period it pays ends, and the plan it pays for (None: the subscription's)."""

    invoice_id: str
    amount_paid_cents: int
    currency: str
    period_end: datetime | None
    plan_id: str | None = None


def _event_data(row: Any, plan: Any, **more: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "env": row.env,
        "plan_id": plan.id,
        "plan": plan.name,
        "interval": row.interval,
        "status": row.status,
        "current_period_end": rfc3339_or_none(row.current_period_end),
        "cancel_at_period_end": row.cancel_at_period_end,
        **more,
    }


async def _emit(
    conn: AsyncConnection, row: Any, type_: str, now: datetime, **more: Any
) -> list[str]:
    plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return await outbox.emit(
        conn,
        env=row.env,
        merchant_id=row.merchant_id,
        type_=type_,
        data=_event_data(row, plan, **more),
        now=now,
    )


def _moment(value: datetime) -> Any:
    """A time as the store keeps one (``UTCDateTime``), where SQL picks between values."""
    return literal(value, UTCDateTime())


def _not_after(at: datetime) -> Any:
    """Nothing the provider said later than ``at`` was applied yet."""
    return or_(_S.c.state_at.is_(None), _S.c.state_at <= at)


def _later_end(end: datetime | None) -> Any:
    """The period's end moved to ``end`` if that is later: a period never goes back, whatever
    order its reports come in."""
    if end is None:
        return _S.c.current_period_end
    return case(
        (or_(_S.c.current_period_end.is_(None), _S.c.current_period_end < end), _moment(end)),
        else_=_S.c.current_period_end,
    )


async def credit_period(
    conn: AsyncConnection,
    db: Database,
    sub: Any,
    paid: PaidPeriod,
    now: datetime,
    *,
    at: datetime | None = None,
) -> Settlement:
    """The one rule of a paid period: its row (the invoice id, once), the plan's
    ``credits_included`` into the wallet with its entry, the subscription active (unless it
    ended) through the period's end, and ``subscription.created`` (its first period) or
    ``subscription.renewed``. Found already: nothing, ``duplicate``. ``at``: when the payment
    was reported (an event's ``created``; ``now`` by default): a past-due subscription is made
    active only if nothing said later was applied."""
    at = at or now
    plan = None
    if paid.plan_id is not None:
        plan = (
            await conn.execute(select(_PL).where(_PL.c.id == paid.plan_id, _PL.c.env == sub.env))
        ).first()
    if plan is None:
        plan = (await conn.execute(select(_PL).where(_PL.c.id == sub.plan_id))).one()
    recorded = (
        await conn.execute(
            upsert(_SI)
            .values(
                invoice_id=paid.invoice_id,
                subscription_id=sub.id,
                env=sub.env,
                merchant_id=sub.merchant_id,
                plan_id=plan.id,
                amount_paid_cents=paid.amount_paid_cents,
                currency=paid.currency.upper()[:3],
                credit_cents=plan.credits_included,
                period_end=paid.period_end,
                paid_at=now,
            )
            .on_conflict_do_nothing(index_elements=[_SI.c.invoice_id])
            .returning(_SI.c.invoice_id)
        )
    ).first()
    if recorded is None:
        return Settlement("duplicate")
    row = (
        await conn.execute(
            update(_S)
            .where(_S.c.id == sub.id)
            .values(
                periods_paid=_S.c.periods_paid + 1,
                plan_id=plan.id,
                current_period_end=_later_end(paid.period_end),
                status=case(
                    (_S.c.status == "incomplete", "active"),
                    (and_(_S.c.status == "past_due", _not_after(at)), "active"),
                    else_=_S.c.status,
                ),
                state_at=case(
                    (or_(_S.c.state_at.is_(None), _S.c.state_at < at), _moment(at)),
                    else_=_S.c.state_at,
                ),
                expires_at=None,
                updated_at=now,
            )
            .returning(_S)
        )
    ).one()
    if row.status not in ("active",):
        log.warning("subscription %s paid while %s; credited", row.id, row.status)
    moved = await credit_merchant(
        conn,
        db,
        env=row.env,
        merchant_id=row.merchant_id,
        amount=plan.credits_included,
        source=CREDIT_KIND,
        reference=paid.invoice_id[:60],
        memo=f"{plan.name} plan ({row.interval}ly credits)",
        now=now,
    )
    type_ = CREATED if row.periods_paid == 1 else RENEWED
    events = await _emit(
        conn, row, type_, now, invoice_id=paid.invoice_id, credit_cents=plan.credits_included
    )
    return Settlement("credited", [*moved.delivery_ids, *events], row.status)


# --- the state the provider reports ---

_STRIPE_STATES = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}
_STATE_EVENTS = {"past_due": PAST_DUE, "canceled": CANCELED}


async def move_state(
    conn: AsyncConnection,
    sub_id: str,
    at: datetime,
    now: datetime,
    *,
    status: str | None = None,
    cancel_at_period_end: bool | None = None,
    current_period_end: datetime | None = None,
    plan_id: str | None = None,
) -> list[str]:
    """Apply what the provider said at ``at``, unless something said later was applied
    already or the subscription ended; a move into ``past_due`` or ``canceled`` emits its
    event, once (the move is conditional on the status being another)."""
    fresh = and_(_S.c.id == sub_id, _S.c.status.not_in(FINAL), _not_after(at))
    deliveries: list[str] = []
    if status is not None:
        values: dict[str, Any] = {"status": status, "state_at": at, "updated_at": now}
        if status == "canceled":
            values["canceled_at"] = now
        if status == "past_due":
            # Not paid yet is not past due: a checkout still open stays incomplete.
            fresh = and_(fresh, _S.c.status != "incomplete")
        moved = (
            await conn.execute(
                update(_S).where(fresh, _S.c.status != status).values(**values).returning(_S)
            )
        ).first()
        if moved is not None and status in _STATE_EVENTS:
            deliveries += await _emit(conn, moved, _STATE_EVENTS[status], now)
    rest: dict[str, Any] = {}
    if cancel_at_period_end is not None:
        rest["cancel_at_period_end"] = cancel_at_period_end
    if current_period_end is not None:
        rest["current_period_end"] = _later_end(current_period_end)
    if plan_id is not None:
        rest["plan_id"] = plan_id
    if rest:
        await conn.execute(
            update(_S)
            .where(_S.c.id == sub_id, _S.c.status.not_in(FINAL), _not_after(at))
            .values(**rest, state_at=at, updated_at=now)
        )
    return deliveries


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
            await conn.execute(
                update(_S)
                .where(_S.c.id == sub.id, _S.c.status == "incomplete", _S.c.periods_paid == 0)
                .values(status="expired", updated_at=now)
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


# --- opening one: the payment session ---


def _channel(env: str, channel: str) -> str:
    """The channel that pays in ``env``: staging pays through the sandbox whichever is named
    (as a checkout does), live through Stripe."""
    if channel not in ("stripe", "sandbox"):
        raise ApiError(Code.PAYMENT_CHANNEL_UNKNOWN, data={"channel": channel[:40]})
    if env == "live" and channel == "sandbox":
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_AVAILABLE, data={"channel": channel})
    return "sandbox" if env == "staging" else "stripe"


def sandbox_token(settings: Settings, sub_id: str, purpose: str = "checkout") -> str:
    """Proof that the holder was given the sandbox link (derived: nothing extra is stored)."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"sandbox-{purpose}:{sub_id}".encode(), hashlib.sha256).hexdigest()


def _sandbox_url(settings: Settings, sub_id: str, purpose: str = "checkout") -> str:
    token = sandbox_token(settings, sub_id, purpose)
    page = "" if purpose == "checkout" else "/portal"
    return f"{public_base(settings)}{SANDBOX_PATH}/{sub_id}{page}?token={token}"


async def _holder(conn: AsyncConnection, caller: Caller, now: datetime) -> Any:
    """The subscription holding the caller's place, if one does (a checkout past its expiry
    does not)."""
    return (
        await conn.execute(
            select(_S).where(
                _S.c.merchant_id == caller.merchant_id,
                _S.c.env == caller.env,
                _S.c.status.in_(HOLDING),
                or_(
                    _S.c.status != "incomplete",
                    _S.c.expires_at.is_(None),
                    _S.c.expires_at > now,
                ),
            )
        )
    ).first()


async def _customer(conn: AsyncConnection, caller: Caller) -> str | None:
    """The merchant's customer at Stripe, from its last subscription that had one."""
    return (
        await conn.execute(
            select(_S.c.provider_customer_id)
            .where(
                _S.c.merchant_id == caller.merchant_id,
                _S.c.env == caller.env,
                _S.c.provider_customer_id.is_not(None),
            )
            .order_by(_S.c.id.desc())
            .limit(1)
        )
    ).scalar()


async def _subscribe(
    db: Database,
    settings: Settings,
    caller: Caller,
    body: PaymentSessionRequest,
    channel: str,
    own_origin: str | None,
) -> Outcome:
    given = {
        k: v for k, v in (("success_url", body.success_url), ("cancel_url", body.cancel_url)) if v
    }
    check_return_urls(settings, caller.env, given, own_origin=own_origin)
    interval = body.interval or "month"
    now = utcnow()
    assert body.plan_id is not None
    async with db.read() as conn:
        plan = await find_plan(conn, caller.env, body.plan_id, on_sale=True)
        if await _holder(conn, caller, now) is not None:
            raise ApiError(Code.SUBSCRIPTION_EXISTS)
        customer = await _customer(conn, caller)
    sub_id = new_id("sub")
    success_url = body.success_url or wallet_url(settings)
    cancel_url = body.cancel_url or wallet_url(settings)
    if channel == "sandbox":
        session_id, url = None, _sandbox_url(settings, sub_id)
        expires_at = now + timedelta(seconds=settings.sandbox_order_ttl_seconds)
    else:
        price = plan.stripe_price_monthly_id if interval == "month" else plan.stripe_price_yearly_id
        if price is None:
            raise ApiError(Code.PLAN_NOT_PURCHASABLE)
        session = await stripe_plans.create_subscription_session(
            settings,
            stripe_plans.SubscriptionSessionRequest(
                subscription_id=sub_id,
                merchant_id=caller.merchant_id,
                plan_id=plan.id,
                price_id=price,
                customer_id=customer,
                success_url=success_url,
                cancel_url=cancel_url,
            ),
        )
        session_id, url = session.id, session.url
        expires_at = session.expires_at or now + STRIPE_SESSION_TTL
    try:
        async with db.transaction() as conn:
            # A checkout that can no longer be paid gives its place back.
            await conn.execute(
                update(_S)
                .where(
                    _S.c.merchant_id == caller.merchant_id,
                    _S.c.env == caller.env,
                    _S.c.status == "incomplete",
                    _S.c.expires_at <= now,
                )
                .values(status="expired", updated_at=now)
            )
            await conn.execute(
                insert(_S).values(
                    id=sub_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    plan_id=plan.id,
                    interval=interval,
                    provider=channel,
                    status="incomplete",
                    provider_session_id=session_id,
                    provider_customer_id=customer,
                    checkout_url=url,
                    success_url=success_url,
                    cancel_url=cancel_url,
                    cancel_at_period_end=False,
                    card_fails=False,
                    periods_paid=0,
                    expires_at=expires_at,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        if session_id is not None:
            log.warning("subscription checkout %s orphaned: another holds the place", session_id)
        raise ApiError(Code.SUBSCRIPTION_EXISTS) from None
    made = PaymentSessionData(
        type="subscription",
        channel="sandbox" if channel == "sandbox" else "stripe",
        url=url,
        session_id=session_id,
        order_id=None,
        subscription_id=sub_id,
        plan_id=plan.id,
        interval=interval,
        expires_at=rfc3339(expires_at),
    )
    return Outcome(Code.CREATED, made, status="incomplete")


async def create_session(
    db: Database,
    settings: Settings,
    caller: Caller,
    body: PaymentSessionRequest,
    *,
    own_origin: str | None = None,
) -> Outcome:
    """The seed's payment session: a subscription to a plan, or a pack's checkout, which is
    the checkout itself (``orders.checkout``), answered in the session's shape."""
    channel = _channel(caller.env, body.channel)
    if body.type == "subscription":
        return await _subscribe(db, settings, caller, body, channel, own_origin)
    request = CheckoutRequest.model_validate(
        {"pack_id": body.pack_id, "success_url": body.success_url, "cancel_url": body.cancel_url}
    )
    done = await checkout(db, settings, caller, request, own_origin=own_origin)
    made: CheckoutData = done.data
    session = PaymentSessionData(
        type="topup",
        channel=made.provider,
        url=made.checkout_url,
        session_id=None,
        order_id=made.order_id,
        subscription_id=None,
        plan_id=None,
        interval=None,
        expires_at=made.expires_at,
    )
    return Outcome(done.code, session, status=done.status, deliveries=done.deliveries)


# --- the portal ---


async def open_portal(
    db: Database,
    settings: Settings,
    caller: Caller,
    return_url: str,
    *,
    own_origin: str | None = None,
) -> Outcome:
    """Where the merchant manages its subscription: Stripe's billing portal (live), the
    sandbox's own page (staging)."""
    check_return_urls(settings, caller.env, {"return_url": return_url}, own_origin=own_origin)
    async with db.read() as conn:
        sub = (
            await conn.execute(
                select(_S)
                .where(
                    _S.c.merchant_id == caller.merchant_id,
                    _S.c.env == caller.env,
                    _S.c.status.in_(("active", "past_due")),
                )
                .limit(1)
            )
        ).first()
    if sub is None:
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    if sub.provider == "sandbox":
        return Outcome(
            Code.SUCCESS,
            PortalData(url=_sandbox_url(settings, sub.id, "portal"), channel="sandbox"),
        )
    if sub.provider_customer_id is None:
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    url = await stripe_plans.create_portal_session(settings, sub.provider_customer_id, return_url)
    return Outcome(Code.SUCCESS, PortalData(url=url, channel="stripe"))


# --- the staging sandbox ---


def add_interval(moment: datetime, interval: str) -> datetime:
    """One period on: a calendar month (the day kept, or the month's last) or a year."""
    if interval == "year":
        years = moment.year + 1
        day = min(moment.day, calendar.monthrange(years, moment.month)[1])
        return moment.replace(year=years, day=day)
    month = moment.month % 12 + 1
    year = moment.year + (moment.month == 12)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


async def sandbox_subscription(
    db: Database, settings: Settings, sub_id: str, token: str, purpose: str = "checkout"
) -> tuple[Any, Any]:
    """The sandbox subscription the link names and its plan, if the token is the link's."""
    if not hmac.compare_digest(sandbox_token(settings, sub_id, purpose), token):
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    async with db.read() as conn:
        row = (
            await conn.execute(select(_S).where(_S.c.id == sub_id, _S.c.provider == "sandbox"))
        ).first()
        if row is None:
            raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
        plan = (await conn.execute(select(_PL).where(_PL.c.id == row.plan_id))).one()
    return row, plan


def _price(plan: Any, interval: str) -> int:
    return int(plan.price_monthly if interval == "month" else plan.price_yearly)


def _sandbox_invoice(sub_id: str, number: int) -> str:
    return f"sbx_{sub_id}_{number}"


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
            _sandbox_invoice(sub_id, 1),
            _price(plan, sub.interval),
            "usd",
            add_interval(now, sub.interval),
        )
        settled = await credit_period(conn, db, sub, paid, now)
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
    return Outcome(Code.SUBSCRIPTION_CHANGED, _data(row, plan), status=row.status)


async def _renew_one(db: Database, sub_id: str, now: datetime) -> list[str]:
    """The periods of one sandbox subscription that ended by ``now``: each paid and credited
    once (its invoice is the subscription's and the period's number), or, with the tester's
    failing card, the subscription past due and nothing credited; at its period's end a
    subscription canceled at period end ends."""
    deliveries: list[str] = []
    for _ in range(MAX_RENEWALS):
        async with db.transaction() as conn:
            sub = (await conn.execute(select(_S).where(_S.c.id == sub_id))).one()
            due = sub.current_period_end
            if sub.status not in ("active", "past_due") or due is None or due > now:
                return deliveries
            if sub.cancel_at_period_end:
                deliveries += await move_state(conn, sub_id, now, now, status="canceled")
                return deliveries
            if sub.card_fails:
                deliveries += await move_state(conn, sub_id, now, now, status="past_due")
                return deliveries
            plan = (await conn.execute(select(_PL).where(_PL.c.id == sub.plan_id))).one()
            paid = PaidPeriod(
                _sandbox_invoice(sub_id, sub.periods_paid + 1),
                _price(plan, sub.interval),
                "usd",
                add_interval(due, sub.interval),
            )
            settled = await credit_period(conn, db, sub, paid, now)
            deliveries += settled.deliveries
    return deliveries


async def renew_due(db: Database, merchant_id: str, env: str, now: datetime) -> Outcome:
    """Staging's renewals up to ``now`` (a test clock's time, or the wall's): every sandbox
    subscription of the merchant in ``env`` whose period ended by then is renewed, once per
    period, however often and however concurrently this runs."""
    async with db.read() as conn:
        ids = list(
            (
                await conn.execute(
                    select(_S.c.id).where(
                        _S.c.merchant_id == merchant_id,
                        _S.c.env == env,
                        _S.c.provider == "sandbox",
                        _S.c.status.in_(("active", "past_due")),
                        _S.c.current_period_end <= now,
                    )
                )
            ).scalars()
        )
    deliveries: list[str] = []
    for sub_id in ids:
        deliveries += await _renew_one(db, sub_id, now)
    return Outcome(Code.SUCCESS, {"subscriptions": ids}, deliveries=deliveries)


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
                await conn.execute(
                    update(_S)
                    .where(_S.c.id == sub_id, _S.c.status == "incomplete", _S.c.periods_paid == 0)
                    .values(status="expired", updated_at=now)
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


async def cancel_sandbox(db: Database, settings: Settings, sub_id: str, token: str) -> Outcome:
    """Giving up on the sandbox checkout: the subscription is never opened, its place given
    back; refused if Pay got there first."""
    await sandbox_subscription(db, settings, sub_id, token)
    now = utcnow()
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                update(_S)
                .where(_S.c.id == sub_id, _S.c.status == "incomplete", _S.c.periods_paid == 0)
                .values(status="expired", updated_at=now)
                .returning(_S.c.id)
            )
        ).first()
    if row is None:
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
