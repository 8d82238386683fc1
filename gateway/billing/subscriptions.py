"""Subscriptions: a merchant's plan, paid each period, each paid period credited exactly once.

One place per merchant and environment: a subscription holds it while ``incomplete`` (its
checkout open), ``active`` or ``past_due`` (``ix_subscriptions_holder``, a unique partial
index), so two checkouts racing cannot both open one; a checkout that can no longer be paid
gives the place back (``expired``) when the next one is opened.

A paid period is one row of ``subscription_invoices`` keyed by the provider's invoice id,
written by ``credit_period`` in the same transaction as its wallet credit, ledger entry
(``subscription_credit``) and events: every channel's period reports (Stripe's
``invoice.paid`` among them, however often, in whatever order beside its other events) and the
reconciliation sweep that asks a channel's provider for a subscription's paid periods
(``subscription_channels``, one module for every channel), and the sandbox's renewals
(``subscription_sandbox.renew_due``) all go through it, so whichever comes first credits and
every other finds the row. What the provider says of the state (Stripe's
``customer.subscription.updated``, ``invoice.payment_failed``) is applied only if it is not older
than what was applied before (``state_at``); ``canceled`` is final.
"""

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import outbox
from ..callers import Caller
from ..mail.links import public_base
from ..store.compose import upsert
from ..store.db import Database
from ..store.models import (
    Plan,
    Subscription,
    SubscriptionFailure,
    SubscriptionInvoice,
    table_of,
)
from ..store.types import UTCDateTime
from ..values.clock import new_id, rfc3339, rfc3339_or_none, utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import channels, open_checkouts, providers, receipts, subscription_states
from .funding import credit_merchant
from .orders import Settlement, check_return_urls, checkout
from .plan_schemas import (
    PaymentSessionData,
    PaymentSessionRequest,
    PortalData,
    SubscriptionData,
    SubscriptionReply,
)
from .plans import find_plan, plan_data
from .providers import Credentials, NotSupported, Provider, SubscriptionRequest
from .schemas import CheckoutData, CheckoutRequest
from .service import wallet_url

__all__ = [
    "CREDIT_KIND",
    "FINAL",
    "HOLDING",
    "SANDBOX_PATH",
    "FailedPeriod",
    "PaidPeriod",
    "create_session",
    "credit_period",
    "current",
    "get_subscription",
    "move_state",
    "open_portal",
    "record_failure",
    "sandbox_token",
    "subscription_data",
]

log = logging.getLogger(__name__)

_S = table_of(Subscription)
_SI = table_of(SubscriptionInvoice)
_SF = table_of(SubscriptionFailure)
_PL = table_of(Plan)

CREDIT_KIND = "subscription_credit"
HOLDING = ("incomplete", "active", "past_due")
FINAL = ("canceled", "expired")

CREATED = "subscription.created"
RENEWED = "subscription.renewed"

SANDBOX_PATH = "/api/public/v1/subscription/sandbox"


# --- reading ---


def subscription_data(row: Any, plan: Any) -> SubscriptionData:
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
    return subscription_data(row, plan)


async def get_subscription(db: Database, caller: Caller) -> Outcome:
    async with db.read() as conn:
        found = await current(conn, caller.merchant_id, caller.env)
        opened = await open_checkouts.find(conn, caller.merchant_id, caller.env)
    status = None if found is None else found.status
    reply = SubscriptionReply(subscription=found, open_checkout=opened)
    return Outcome(Code.SUCCESS, reply, status=status)


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
    # Paid makes it active: a checkout, or a subscription past due unless something said
    # later was applied (judged before ``state_at`` moves below); one that ended stays so.
    mine = _S.c.id == sub.id
    states = subscription_states
    if not await states.move(conn, states.INCOMPLETE, states.ACTIVE, now, mine):
        await states.move(conn, states.PAST_DUE, states.ACTIVE, now, mine, _not_after(at))
    row = (
        await conn.execute(
            update(_S)
            .where(mine)
            .values(
                periods_paid=_S.c.periods_paid + 1,
                plan_id=plan.id,
                current_period_end=_later_end(paid.period_end),
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
    # Numbered as it is paid, in the series of every payment of its environment (``receipts``).
    await receipts.issue(
        conn,
        env=row.env,
        merchant_id=row.merchant_id,
        reference=receipts.reference_of(paid.invoice_id),
        now=now,
    )
    type_ = CREATED if row.periods_paid == 1 else RENEWED
    events = await _emit(
        conn, row, type_, now, invoice_id=paid.invoice_id, credit_cents=plan.credits_included
    )
    return Settlement("credited", [*moved.delivery_ids, *events], row.status)


@dataclass(frozen=True, slots=True)
class FailedPeriod:
    """An invoice of a subscription whose payment failed: its id, what it asked, the period."""

    invoice_id: str
    amount_due_cents: int
    currency: str
    period_start: datetime | None
    period_end: datetime | None


async def record_failure(
    conn: AsyncConnection, sub: Any, failed: FailedPeriod, now: datetime
) -> None:
    """Keep that ``failed``'s payment failed, once per invoice however often it is reported:
    the merchant's list shows the period as failed until the same invoice is paid (its
    ``subscription_invoices`` row, written by ``credit_period``, then stands for it). Nothing
    is credited or moved here: the state is ``move_state``'s."""
    await conn.execute(
        upsert(_SF)
        .values(
            invoice_id=failed.invoice_id,
            subscription_id=sub.id,
            env=sub.env,
            merchant_id=sub.merchant_id,
            plan_id=sub.plan_id,
            amount_due_cents=failed.amount_due_cents,
            currency=failed.currency.upper()[:3],
            period_start=failed.period_start,
            period_end=failed.period_end,
            failed_at=now,
        )
        .on_conflict_do_nothing(index_elements=[_SF.c.invoice_id])
    )


# --- the state the provider reports ---


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
    deliveries: list[str] = []
    if status is not None:
        # From every state the table moves to ``status`` (none final, none ``status``; not
        # paid yet is not past due: a checkout still open stays incomplete).
        moved = await subscription_states.move(
            conn,
            subscription_states.into(status),
            status,
            now,
            _S.c.id == sub_id,
            _not_after(at),
            values={"state_at": at},
            returning=(_S,),
        )
        event = subscription_states.entered(status).event
        if moved and event is not None:
            deliveries += await _emit(conn, moved[0], event, now)
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


# --- opening one: the payment session ---


async def _payer(
    db: Database, settings: Settings, env: str, channel: str
) -> tuple[str, channels.Chosen | None]:
    """Who takes a subscription's payments in ``env``: staging pays through the sandbox
    whichever channel is named (as a checkout does); live through Stripe (its plans' prices),
    or through any other channel whose provider has ``subscriptions`` and that the merchant is
    offered, which opens it (``Provider.open_subscription``; ``chosen`` is then its
    credentials)."""
    provider = channels.known(channel)
    if provider.stands_in or provider.keeps_plan_prices:
        if env == "live" and provider.stands_in:
            raise ApiError(Code.PAYMENT_CHANNEL_NOT_AVAILABLE, data={"channel": channel})
        return (provider.name if env == "live" else providers.default(env)), None
    chosen = await channels.choose(db, settings, env, channel, "subscription")
    return chosen.payer.name, (None if chosen.payer.stands_in else chosen)


def sandbox_token(settings: Settings, sub_id: str, purpose: str = "checkout") -> str:
    """Proof that the holder was given the sandbox link (derived: nothing extra is stored)."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"sandbox-{purpose}:{sub_id}".encode(), hashlib.sha256).hexdigest()


def _sandbox_url(settings: Settings, sub_id: str, purpose: str = "checkout") -> str:
    token = sandbox_token(settings, sub_id, purpose)
    page = "" if purpose == "checkout" else "/portal"
    return f"{public_base(settings)}{SANDBOX_PATH}/{sub_id}{page}?token={token}"


async def _opener(
    settings: Settings, env: str, channel: str, chosen: channels.Chosen | None
) -> tuple[Provider[Any], Credentials | None]:
    """Who opens a live subscription, and with what: the channel chosen, or one that keeps
    its plans' prices (``Provider.keeps_plan_prices``) with the process's credentials, as
    its subscriptions always were."""
    if chosen is not None:
        return chosen.payer, chosen.credentials
    provider = channels.known(channel)
    return provider, provider.default_credentials(settings, env)


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


async def _customer(conn: AsyncConnection, caller: Caller, channel: str) -> str | None:
    """The merchant's customer at ``channel``, from its last subscription there that had
    one."""
    return (
        await conn.execute(
            select(_S.c.provider_customer_id)
            .where(
                _S.c.merchant_id == caller.merchant_id,
                _S.c.env == caller.env,
                _S.c.provider == channel,
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
    own_origin: str | None,
) -> Outcome:
    channel, chosen = await _payer(db, settings, caller.env, body.channel)
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
            raise await open_checkouts.open_refusal(conn, caller) or ApiError(
                Code.SUBSCRIPTION_EXISTS
            )
        customer = await _customer(conn, caller, channel)
    sub_id = new_id("sub")
    success_url = body.success_url or wallet_url(settings)
    cancel_url = body.cancel_url or wallet_url(settings)
    if providers.is_stand_in(channel):
        session_id, url = None, _sandbox_url(settings, sub_id)
        expires_at = now + timedelta(seconds=settings.sandbox_order_ttl_seconds)
    else:
        payer, credentials = await _opener(settings, caller.env, channel, chosen)
        price = None
        if payer.keeps_plan_prices:
            price = (
                plan.stripe_price_monthly_id if interval == "month" else plan.stripe_price_yearly_id
            )
            if price is None:
                raise ApiError(Code.PLAN_NOT_PURCHASABLE)
            if credentials is None:
                raise ApiError(Code.PAYMENTS_NOT_CONFIGURED)
        assert credentials is not None
        request = SubscriptionRequest(
            subscription_id=sub_id,
            merchant_id=caller.merchant_id,
            env=caller.env,
            plan_id=plan.id,
            plan_name=plan.name,
            interval=interval,
            amount_minor=plan.price_monthly if interval == "month" else plan.price_yearly,
            currency="USD",
            return_url=success_url,
            cancel_url=cancel_url,
            notify_url=channels.notify_url(settings, channel),
            price_id=price,
            customer_id=customer,
        )
        async with channels.context(settings, caller.env, credentials, now=now) as ctx:
            opened = await payer.open_subscription(ctx, request)
        session_id, url = opened.session_id, opened.url
        expires_at = opened.expires_at or now + timedelta(
            seconds=settings.sandbox_order_ttl_seconds
        )
    try:
        async with db.transaction() as conn:
            # A checkout that can no longer be paid gives its place back.
            await subscription_states.move(
                conn,
                subscription_states.INCOMPLETE,
                subscription_states.EXPIRED,
                now,
                _S.c.merchant_id == caller.merchant_id,
                _S.c.env == caller.env,
                _S.c.expires_at <= now,
            )
            await conn.execute(
                insert(_S).values(
                    id=sub_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    plan_id=plan.id,
                    interval=interval,
                    provider=channel,
                    status=subscription_states.first(subscription_states.INCOMPLETE),
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
        channel=channel,
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
    if body.type == "subscription":
        return await _subscribe(db, settings, caller, body, own_origin)
    # A pack through any channel the merchant is offered, as a checkout names it.
    request = CheckoutRequest.model_validate(
        {
            "channel": body.channel,
            "pack_id": body.pack_id,
            "success_url": body.success_url,
            "cancel_url": body.cancel_url,
        }
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
    """Where the merchant manages its subscription: Stripe's billing portal, or the portal of
    the channel it was opened through (live); the sandbox's own page (staging)."""
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
        refused = None if sub is not None else await open_checkouts.open_refusal(conn, caller)
    if refused is not None:
        raise refused
    if sub is None:
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    if providers.is_stand_in(sub.provider):
        return Outcome(
            Code.SUCCESS,
            PortalData(url=_sandbox_url(settings, sub.id, "portal"), channel=sub.provider),
        )
    if sub.provider_customer_id is None:
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    return Outcome(
        Code.SUCCESS,
        PortalData(url=await _channel_portal(db, settings, sub, return_url), channel=sub.provider),
    )


async def _channel_portal(db: Database, settings: Settings, sub: Any, return_url: str) -> str:
    """The portal of the channel ``sub`` was opened through (``Provider.open_portal``), or the
    refusal that says the channel has none."""
    provider = channels.known(sub.provider)
    credentials = await channels.credentials_for(db, settings, provider, sub.env)
    if credentials is None:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": provider.name})
    try:
        async with channels.context(settings, sub.env, credentials) as ctx:
            return await provider.open_portal(ctx, sub.provider_customer_id, return_url)
    except NotSupported:
        raise ApiError(
            Code.PAYMENT_CHANNEL_KIND_UNSUPPORTED, data={"channel": provider.name, "kind": "portal"}
        ) from None
