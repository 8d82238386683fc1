"""Opening a subscription: its payment session at the channel that takes its payments (the
sandbox in staging; Stripe's plan prices, or another channel whose provider has
``subscriptions``, in live), one place per merchant and environment.

A subscription holds that place while ``incomplete`` (its checkout open), ``active`` or
``past_due`` (``ix_subscriptions_holder``, a unique partial index), so two checkouts racing
cannot both open one; a checkout that can no longer be paid gives the place back (``expired``)
when the next one is opened. A pack's payment session is the checkout itself."""

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ...callers import Caller
from ...store.engine import Database
from ...store.models import Subscription, table_of
from ...values.clock import new_id, rfc3339, utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from ..channels import offering
from ..channels import registry as channels
from ..channels.registry import Credentials, Provider, SubscriptionRequest
from ..orders import check_return_urls, checkout
from ..schemas import CheckoutData, CheckoutRequest
from ..service import wallet_url
from . import open_checkouts, states
from .periods import HOLDING
from .plans import find_plan
from .schemas import PaymentSessionData, PaymentSessionRequest

__all__ = ["create_session"]

log = logging.getLogger(__name__)

_S = table_of(Subscription)


async def _payer(
    db: Database, settings: Settings, env: str, channel: str
) -> tuple[str, offering.Chosen | None]:
    """Who takes a subscription's payments in ``env``: staging pays through the sandbox
    whichever channel is named (as a checkout does); live through Stripe (its plans' prices),
    or through any other channel whose provider has ``subscriptions`` and that the merchant is
    offered, which opens it (``Provider.open_subscription``; ``chosen`` is then its
    credentials)."""
    provider = offering.known(channel)
    if provider.stands_in or provider.keeps_plan_prices:
        if env == "live" and provider.stands_in:
            raise ApiError(Code.PAYMENT_CHANNEL_NOT_AVAILABLE, data={"channel": channel})
        return (provider.name if env == "live" else channels.default(env)), None
    chosen = await offering.choose(db, settings, env, channel, "subscription")
    return chosen.payer.name, (None if chosen.payer.stands_in else chosen)


async def _opener(
    settings: Settings, env: str, channel: str, chosen: offering.Chosen | None
) -> tuple[Provider[Any], Credentials | None]:
    """Who opens a subscription, and with what: the channel chosen, or one that keeps its
    plans' prices (``Provider.keeps_plan_prices``) with the process's credentials, as its
    subscriptions always were; in staging the sandbox, which needs none."""
    if chosen is not None:
        return chosen.payer, chosen.credentials
    provider = offering.known(channel)
    if provider.stands_in:
        return provider, provider.credentials()
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
    payer, credentials = await _opener(settings, caller.env, channel, chosen)
    price = None
    if payer.keeps_plan_prices:
        price = plan.stripe_price_monthly_id if interval == "month" else plan.stripe_price_yearly_id
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
        notify_url=offering.notify_url(settings, channel),
        price_id=price,
        customer_id=customer,
    )
    async with offering.context(settings, caller.env, credentials, now=now) as ctx:
        opened = await payer.open_subscription(ctx, request)
    session_id, url = opened.session_id, opened.url
    expires_at = opened.expires_at or now + timedelta(seconds=settings.sandbox_order_ttl_seconds)
    try:
        async with db.transaction() as conn:
            # A checkout that can no longer be paid gives its place back.
            await states.move(
                conn,
                states.INCOMPLETE,
                states.EXPIRED,
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
                    status=states.first(states.INCOMPLETE),
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
