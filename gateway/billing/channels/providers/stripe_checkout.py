"""Stripe: Checkout Sessions, invoices and subscriptions, through the official package
(``stripe_orders``, ``stripe_plans``).

Its credentials are the process settings (``AITOPUP_STRIPE_SECRET_KEY``,
``AITOPUP_STRIPE_WEBHOOK_SECRET``, ``AITOPUP_STRIPE_API_BASE``) unless the operator saves a row
for the environment, so nothing changes for an operator who configured Stripe before channels
existed. Its events come through the one notification door (``billing.settling.notices``) as every
channel's do, read by ``stripe_events``; they keep the codes and the answer Stripe's webhook
always had (``notice_codes``, ``ack``).
"""

from datetime import timedelta
from typing import ClassVar

from pydantic import SecretStr

from ....values.code_names import Code
from ....values.outcome import ApiError
from ....values.settings import Settings
from . import stripe_orders, stripe_plans
from .base import Context, Provider
from .credentials import Credentials
from .errors import NoticeCodes, NoticeRefused, NotSupported, ProviderError
from .messages import (
    Ack,
    Charged,
    Inbound,
    Kind,
    Looked,
    MethodSetup,
    Notice,
    Opened,
    OrderRef,
    PaymentRequest,
    PeriodPaid,
    Periods,
    Refunded,
    SavedCharge,
    SavedMethod,
    SetupOpened,
    SubscriptionRef,
    SubscriptionRequest,
)
from .stripe_events import PERIOD_REASONS, STATES, notice_of

__all__ = ["STRIPE", "StripeCredentials", "StripeProvider", "stripe_settings"]

STRIPE = "stripe"
# Stripe's own default, for a session whose reply did not say when it expires.
SESSION_TTL = timedelta(hours=24)


class StripeCredentials(Credentials):
    secret_key: SecretStr
    webhook_secret: SecretStr | None = None
    api_base: str = "https://api.stripe.com"


def stripe_settings(settings: Settings, credentials: StripeCredentials) -> Settings:
    """The settings ``stripe_orders`` reads, with ``credentials`` in place of the process's."""
    return settings.model_copy(
        update={
            "stripe_secret_key": credentials.secret_key,
            "stripe_webhook_secret": credentials.webhook_secret,
            "stripe_api_base": credentials.api_base,
        }
    )


class StripeProvider(Provider[StripeCredentials]):
    name: ClassVar[str] = STRIPE
    title: ClassVar[str] = "Stripe"
    methods: ClassVar[tuple[str, ...]] = ("Card", "Link")
    credentials: ClassVar[type[Credentials]] = StripeCredentials
    kinds: ClassVar[frozenset[Kind]] = frozenset({"checkout", "invoice"})
    subscriptions: ClassVar[bool] = True
    keeps_plan_prices: ClassVar[bool] = True
    can_look_up: ClassVar[bool] = True
    can_refund: ClassVar[bool] = True
    # Checkout in setup mode saves a card; PaymentIntents charge it off-session.
    saves_methods: ClassVar[bool] = True
    # Stripe's events carry whole objects.
    body_limit: ClassVar[int] = 512 * 1024
    # Its webhook's codes, as they were before it was a channel; an event about another
    # channel's order settles nothing and says ``mismatch``.
    notice_codes: ClassVar[NoticeCodes] = NoticeCodes(
        refused=Code.STRIPE_SIGNATURE_INVALID,
        malformed=Code.STRIPE_EVENT_MALFORMED,
        not_configured=Code.STRIPE_WEBHOOK_NOT_CONFIGURED,
        not_processed=Code.STRIPE_EVENT_NOT_PROCESSED,
        order_mismatch=None,
    )
    # A subscription's first checkout is asked after until Stripe says it expired.
    forgets_abandoned: ClassVar[bool] = False

    def default_credentials(self, settings: Settings, env: str) -> StripeCredentials | None:
        if settings.stripe_secret_key is None:
            return None
        return StripeCredentials(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )

    def notice_credentials(self, settings: Settings) -> StripeCredentials | None:
        # A webhook secret set without an API key still verifies events, as it always did.
        if settings.stripe_webhook_secret is None:
            return None
        return StripeCredentials(
            secret_key=SecretStr(""),
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )

    def enabled_by_default(self, settings: Settings, env: str) -> bool:
        # Staging pays through the sandbox whatever is named, as it always did.
        return env == "staging" or settings.stripe_secret_key is not None

    async def open(self, ctx: Context[StripeCredentials], req: PaymentRequest) -> Opened:
        settings = stripe_settings(ctx.settings, ctx.credentials)
        if req.kind == "invoice":
            assert req.email is not None and req.days_until_due is not None
            made = await stripe_orders.create_invoice(
                settings,
                stripe_orders.InvoiceRequest(
                    order_id=req.order_id,
                    merchant_id=req.merchant_id,
                    email=req.email,
                    name=req.name,
                    credits=req.credits,
                    amount_cents=req.amount_minor,
                    currency=req.currency,
                    days_until_due=req.days_until_due,
                ),
            )
            # An invoice waits for its payment: it never expires here.
            return Opened(made.url or "", made.id, None)
        session = await stripe_orders.create_session(
            settings,
            stripe_orders.SessionRequest(
                order_id=req.order_id,
                merchant_id=req.merchant_id,
                pack_id=req.pack_id,
                # ``stripe_orders`` names a pack's line "<pack> pack" itself.
                pack_name=req.name.removesuffix(" pack") if req.pack_id else req.name,
                credits=req.credits,
                amount_cents=req.amount_minor,
                currency=req.currency,
                # Stripe's own return names the session; the gateway looks it up there.
                success_url=stripe_orders.return_url(settings),
                cancel_url=req.cancel_url,
            ),
        )
        return Opened(session.url, session.id, session.expires_at or ctx.now + SESSION_TTL)

    async def look_up(self, ctx: Context[StripeCredentials], order: OrderRef) -> Looked:
        settings = stripe_settings(ctx.settings, ctx.credentials)
        if order.session_id is None:
            raise NotSupported
        if order.kind == "invoice":
            looked = await stripe_orders.look_up_invoice(settings, order.session_id)
        else:
            looked = await stripe_orders.look_up_session(settings, order.session_id)
        return Looked(
            looked.state,
            looked.provider_status,
            looked.object_id,
            looked.payment_id,
            looked.amount_cents,
            looked.currency,
        )

    async def refund(
        self, ctx: Context[StripeCredentials], order: OrderRef, amount_minor: int
    ) -> Refunded:
        # The payment is what a refund names; an order credited before it was noted has it
        # found at Stripe first.
        payment_id = order.payment_id or (await self.look_up(ctx, order)).payment_id
        if payment_id is None:
            raise ProviderError("no payment to refund")
        settings = stripe_settings(ctx.settings, ctx.credentials)
        # The refund row's key: every try of it names it, and no other refund does.
        key = order.refund_key or f"refund:{order.order_id}:{order.refunded_minor}:{amount_minor}"
        refund_id, status = await stripe_orders.create_refund(
            settings, payment_id, amount_minor, key
        )
        return Refunded(refund_id, status)

    async def open_setup(self, ctx: Context[StripeCredentials], req: MethodSetup) -> SetupOpened:
        settings = stripe_settings(ctx.settings, ctx.credentials)
        opened = await stripe_orders.create_setup_session(
            settings, merchant_id=req.merchant_id, return_url=req.return_url, key=req.key
        )
        return SetupOpened(opened.url, opened.id, opened.customer)

    async def saved_method(
        self, ctx: Context[StripeCredentials], session_id: str
    ) -> SavedMethod | None:
        settings = stripe_settings(ctx.settings, ctx.credentials)
        done = await stripe_orders.look_up_setup(settings, session_id)
        if done is None:
            return None
        label = None
        if done.brand is not None and done.last4 is not None:
            label = f"{done.brand.title()} •••• {done.last4}"
        return SavedMethod(done.payment_method, done.customer, label)

    async def charge_saved(self, ctx: Context[StripeCredentials], req: SavedCharge) -> Charged:
        settings = stripe_settings(ctx.settings, ctx.credentials)
        intent = await stripe_orders.charge_off_session(
            settings,
            customer=req.customer,
            payment_method=req.payment_method,
            amount_cents=req.amount_minor,
            currency=req.currency.lower(),
            key=req.key,
            metadata={"order_id": req.order_id, "merchant_id": req.merchant_id},
        )
        if intent.status != "succeeded":
            # Off-session, anything but succeeded (requires_action…) is a charge not made.
            raise ProviderError(f"payment intent {intent.status}", status=402, code=intent.status)
        received = intent.amount_cents if intent.amount_cents is not None else req.amount_minor
        return Charged(intent.id, received, (intent.currency or req.currency).upper())

    def verify(self, ctx: Context[StripeCredentials], inbound: Inbound) -> None:
        settings = stripe_settings(ctx.settings, ctx.credentials)
        try:
            stripe_orders.verify_event(
                settings, inbound.body, inbound.headers.get("stripe-signature")
            )
        except ApiError as exc:
            raise NoticeRefused(exc.code.name.lower(), exc.code) from None

    def parse(self, ctx: Context[StripeCredentials], inbound: Inbound) -> Notice:
        return notice_of(inbound.body)

    def ack(self, notice: Notice) -> Ack | None:
        return None  # the envelope: the event id and what it did

    async def open_subscription(
        self, ctx: Context[StripeCredentials], req: SubscriptionRequest
    ) -> Opened:
        assert req.price_id is not None  # the gateway refuses a plan without one first
        session = await stripe_plans.create_subscription_session(
            stripe_settings(ctx.settings, ctx.credentials),
            stripe_plans.SubscriptionSessionRequest(
                subscription_id=req.subscription_id,
                merchant_id=req.merchant_id,
                plan_id=req.plan_id,
                price_id=req.price_id,
                customer_id=req.customer_id,
                success_url=req.return_url,
                cancel_url=req.cancel_url,
            ),
        )
        return Opened(session.url, session.id, session.expires_at or ctx.now + SESSION_TTL)

    async def open_portal(
        self, ctx: Context[StripeCredentials], customer_id: str, return_url: str
    ) -> str:
        settings = stripe_settings(ctx.settings, ctx.credentials)
        return await stripe_plans.create_portal_session(settings, customer_id, return_url)

    async def paid_periods(self, ctx: Context[StripeCredentials], ref: SubscriptionRef) -> Periods:
        # Through the first checkout while the subscription's id is not known.
        looked = await stripe_plans.look_up_subscription(
            stripe_settings(ctx.settings, ctx.credentials),
            session_id=ref.session_id,
            subscription_id=ref.provider_subscription_id,
        )
        found = looked.subscription
        if found is None:
            return Periods(None, None, (), checkout_expired=looked.session_status == "expired")
        paid = tuple(
            PeriodPaid(i.id, i.amount_paid, i.currency or "usd", i.period_end, i.price_id)
            # Oldest first (Stripe lists the newest first): the first is the creation.
            for i in reversed(looked.paid)
            if i.billing_reason in PERIOD_REASONS and i.amount_paid is not None
        )
        return Periods(
            found.id,
            found.customer,
            paid,
            status=STATES.get(found.status or ""),
            cancel_at_period_end=found.cancel_at_period_end,
            current_period_end=found.current_period_end,
            price_id=found.price_id,
        )
