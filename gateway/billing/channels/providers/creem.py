"""Creem (a merchant of record: cards, PayPal, local methods), through its API
(``billing.channels.protocols.creem``).

Creem sells products, so the channel's credentials say which product stands for what
(``pack_products``: a pack id → the Creem product sold as that pack; ``amount_product`` and
``unit_cents``: a product of that price, bought in as many units as the amount needs, for custom
amounts and for packs after a coupon or a tier). Before a checkout is made the product's price
is asked of Creem, and one is used only if its price times the units is the order's amount in
its currency; an amount none charges exactly is refused (``CHANNEL_AMOUNT_NOT_OFFERED``).

The checkout carries the order id as ``request_id`` and in ``metadata`` with the merchant's id;
its ``success_url`` is the gateway's return page, which looks the checkout up (``look_up``)
rather than believe the redirect. ``checkout.completed`` credits; its signature covers the
whole body, amounts included, and its ``created_at`` bounds a replay.

Subscriptions: a plan's recurring product per interval (``plan_products``), priced as the plan;
``subscription.paid`` reports each paid period, keyed by Creem's transaction id, so a period is
credited once however often or in whatever order it is reported. The subscriber's portal is
Creem's customer portal (``open_portal``), for the customer the subscription's events name; a
lost ``subscription.paid`` is found among the customer's transactions (``paid_periods``).

A paid order keeps Creem's transaction (the checkout's ``order.transaction``) as its payment id,
and a refund names it (``refund``): Creem refunds a transaction in full only, so the gateway
refuses a part before anything is taken (``refunds_in_full``).
"""

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from ....values.code_names import Code
from ....values.outcome import ApiError
from ..protocols import creem
from ..protocols.exchange import ChannelError
from ..protocols.money import Money
from .base import Context, Provider, channel_api, channel_failed
from .credentials import ApiRoot, Credentials
from .errors import NoticeMalformed, NoticeRefused, ProviderError
from .messages import (
    Inbound,
    Looked,
    Notice,
    Opened,
    OrderRef,
    PaymentRequest,
    PeriodNotice,
    PeriodPaid,
    Periods,
    Refunded,
    SubscriptionRef,
    SubscriptionRequest,
)

__all__ = ["CREEM", "CreemCredentials", "CreemProvider"]

CREEM = "creem"
_COMPLETED = "checkout.completed"
_PAID = "subscription.paid"
# What each of Creem's subscription events says of the subscription.
_PERIODS: dict[str, Literal["active", "past_due", "canceled"]] = {
    "subscription.active": "active",
    "subscription.update": "active",
    "subscription.trialing": "active",
    "subscription.scheduled_cancel": "active",
    "subscription.past_due": "past_due",
    "subscription.unpaid": "past_due",
    "subscription.paused": "past_due",
    "subscription.canceled": "canceled",
    "subscription.expired": "canceled",
}


class CreemCredentials(Credentials):
    """An API key and the webhook's signing secret (dashboard: Developers), the API root
    (``https://test-api.creem.io`` in test mode) and the products that charge orders."""

    api_key: SecretStr
    webhook_secret: SecretStr
    api_base: ApiRoot = creem.LIVE_API_BASE
    pack_products: dict[str, str] = Field(default_factory=dict, max_length=100)
    amount_product: str | None = None
    unit_cents: int = Field(default=100, ge=1, le=1_000_000)
    # A plan's recurring product per interval: "<plan id>/month" or "<plan id>/year".
    plan_products: dict[str, str] = Field(default_factory=dict, max_length=100)

    def catalogue(self) -> creem.Catalogue:
        return creem.Catalogue(self.pack_products, self.amount_product, self.unit_cents)


def _api(ctx: Context[CreemCredentials]) -> creem.Creem:
    return channel_api(creem.Creem, ctx, ctx.credentials.api_base, ctx.credentials.api_key)


class CreemProvider(Provider[CreemCredentials]):
    name: ClassVar[str] = CREEM
    title: ClassVar[str] = "Creem"
    methods: ClassVar[tuple[str, ...]] = ("Card", "PayPal")
    credentials: ClassVar[type[Credentials]] = CreemCredentials
    subscriptions: ClassVar[bool] = True
    can_look_up: ClassVar[bool] = True
    can_refund: ClassVar[bool] = True
    refunds_in_full: ClassVar[bool] = True
    body_limit: ClassVar[int] = creem.MAX_EVENT_BYTES

    async def open(self, ctx: Context[CreemCredentials], req: PaymentRequest) -> Opened:
        api = _api(ctx)
        amount = Money(req.amount_minor, req.currency.upper())
        try:
            for product, units in ctx.credentials.catalogue().candidates(
                req.pack_id, req.amount_minor
            ):
                price = await api.price(product)
                if price is None or Money(price.minor * units, price.currency) != amount:
                    continue
                made = await api.create_checkout(
                    product_id=product,
                    units=units,
                    request_id=req.order_id,
                    success_url=req.return_url,
                    metadata={"order_id": req.order_id, "merchant_id": req.merchant_id},
                )
                assert made.url is not None
                # Creem's page has no expiry of its own to report: the gateway's TTL holds.
                return Opened(made.url, made.id, None)
        except ChannelError as exc:
            raise channel_failed(CREEM, exc) from None
        raise ApiError(Code.CHANNEL_AMOUNT_NOT_OFFERED, data={"channel": CREEM})

    async def open_subscription(
        self, ctx: Context[CreemCredentials], req: SubscriptionRequest
    ) -> Opened:
        """A checkout for the plan's recurring product (``plan_products``), if Creem prices it
        as the plan; ``subscription.paid`` then reports each period."""
        product = ctx.credentials.plan_products.get(f"{req.plan_id}/{req.interval}")
        api = _api(ctx)
        try:
            price = None if product is None else await api.price(product)
            if product is None or price != Money(req.amount_minor, req.currency.upper()):
                raise ApiError(Code.CHANNEL_AMOUNT_NOT_OFFERED, data={"channel": CREEM})
            made = await api.create_checkout(
                product_id=product,
                units=1,
                request_id=req.subscription_id,
                success_url=req.return_url,
                metadata={
                    "subscription_id": req.subscription_id,
                    "merchant_id": req.merchant_id,
                    "plan_id": req.plan_id,
                },
            )
        except ChannelError as exc:
            raise channel_failed(CREEM, exc) from None
        assert made.url is not None
        return Opened(made.url, made.id, None)

    async def open_portal(
        self, ctx: Context[CreemCredentials], customer_id: str, return_url: str
    ) -> str:
        """Creem's customer portal for the subscriber (Creem takes no return URL: its portal
        is a page of its own the subscriber leaves by closing)."""
        try:
            return await _api(ctx).portal(customer_id)
        except ChannelError as exc:
            raise channel_failed(CREEM, exc) from None

    async def paid_periods(self, ctx: Context[CreemCredentials], ref: SubscriptionRef) -> Periods:
        """The subscription's paid transactions (Creem lists transactions by customer); its
        ids, while no report named them, from its first checkout."""
        api = _api(ctx)
        sub_id, customer = ref.provider_subscription_id, ref.customer_id
        try:
            if (sub_id is None or customer is None) and ref.session_id is not None:
                checkout = await api.checkout(ref.session_id)
                sub_id, customer = (
                    sub_id or checkout.subscription_id,
                    customer or checkout.customer_id,
                )
            if sub_id is None or customer is None:
                return Periods(sub_id, customer, ())
            found = await api.transactions(customer, sub_id)
        except ChannelError as exc:
            raise channel_failed(CREEM, exc) from None
        paid = tuple(
            PeriodPaid(t.id, t.paid.minor, t.paid.currency, t.period_end)
            for t in found
            if t.paid is not None
        )
        return Periods(sub_id, customer, paid)

    def _read(self, ctx: Context[CreemCredentials], inbound: Inbound) -> creem.Event:
        secret = ctx.credentials.webhook_secret.get_secret_value()
        header = inbound.headers.get(creem.SIGNATURE_HEADER)
        return creem.read_event(inbound.body, header, secret, ctx.now)

    def verify(self, ctx: Context[CreemCredentials], inbound: Inbound) -> None:
        try:
            self._read(ctx, inbound)
        except creem.Refused as refused:
            raise NoticeRefused(refused.reason) from None

    def parse(self, ctx: Context[CreemCredentials], inbound: Inbound) -> Notice:
        try:
            event = self._read(ctx, inbound)
        except creem.Refused as refused:
            raise NoticeMalformed(refused.reason) from None
        if event.type == _PAID or event.type in _PERIODS:
            return self._period(event)
        if event.type != _COMPLETED:
            return Notice(event.id, "ignored", None, event.type[:100], created=event.created)
        try:
            checkout = creem.checkout_of(event.object)
        except ChannelError:
            raise NoticeMalformed("no checkout in checkout.completed") from None
        metadata = checkout.metadata
        if "subscription_id" in metadata:
            # A subscription's first checkout: its period is credited by subscription.paid.
            return Notice(event.id, "ignored", None, event.type, created=event.created)
        order_id = metadata.get("order_id")
        merchant_id = metadata.get("merchant_id")
        return Notice(
            event_id=event.id,
            state="paid" if checkout.state == "paid" else "ignored",
            order_id=order_id if isinstance(order_id, str) else checkout.request_id,
            kind=event.type,
            session_id=checkout.id,
            payment_id=checkout.transaction_id,
            amount_minor=checkout.paid.minor if checkout.paid is not None else None,
            currency=checkout.paid.currency if checkout.paid is not None else None,
            merchant_id=merchant_id if isinstance(merchant_id, str) else None,
            created=event.created,
        )

    def _period(self, event: creem.Event) -> Notice:
        """A subscription's report: ``subscription.paid`` a period paid, keyed by its
        transaction (credited once, as Stripe's ``invoice.paid``); the others its state."""
        sub = creem.subscription_of(event.object)
        if sub is None:
            raise NoticeMalformed(f"no subscription in {event.type}")
        ours = sub.metadata.get("subscription_id")
        merchant_id = sub.metadata.get("merchant_id")
        paid = event.type == _PAID
        if paid and (sub.transaction_id is None or sub.paid is None):
            raise NoticeMalformed("subscription.paid without a paid transaction")
        period = PeriodNotice(
            state="paid" if paid else _PERIODS[event.type],
            subscription_id=ours if isinstance(ours, str) else None,
            provider_subscription_id=sub.id,
            invoice_id=sub.transaction_id if paid else None,
            period_end=sub.period_end,
            cancel_at_period_end=event.type == "subscription.scheduled_cancel" or None,
            provider_customer_id=sub.customer_id,
        )
        return Notice(
            event_id=event.id,
            state="paid" if paid else "ignored",
            order_id=None,
            kind=event.type[:100],
            payment_id=sub.transaction_id,
            amount_minor=sub.paid.minor if paid and sub.paid is not None else None,
            currency=sub.paid.currency if paid and sub.paid is not None else None,
            merchant_id=merchant_id if isinstance(merchant_id, str) else None,
            created=event.created,
            subscription=period,
        )

    async def look_up(self, ctx: Context[CreemCredentials], order: OrderRef) -> Looked:
        if order.session_id is None:
            raise ProviderError("creem: the order has no checkout")
        try:
            checkout = await _api(ctx).checkout(order.session_id)
        except ChannelError as exc:
            raise channel_failed(CREEM, exc) from None
        return Looked.paying(
            checkout.state, checkout.status, checkout.id, checkout.transaction_id, checkout.paid
        )

    async def refund(
        self, ctx: Context[CreemCredentials], order: OrderRef, amount_minor: int
    ) -> Refunded:
        """All of the order's payment back: ``POST /v1/refunds`` on its Creem transaction (the
        order's payment id; found through its checkout when the paid report named none).

        Creem takes no idempotency key, so its transaction's own state stands in for one: it is
        looked up first (``GET /v1/transactions``), and one Creem says is ``refunded`` is the
        refund already made (asked before, its answer lost to a timeout or a failed commit, or
        made in Creem's dashboard: either way the payer has the money back) and is recorded
        as it is, without asking Creem again; only a ``paid`` one (or ``partialRefund``, the
        rest of it) is refunded. A second ask cannot refund twice either way: Creem refunds all
        that is left of a transaction, and nothing is left of a refunded one. A refund Creem
        answers ``failed`` or ``canceled``, or any other state of the transaction (charged back,
        declined), is a refusal: nothing is recorded."""
        if order.refunded_minor or amount_minor != order.amount_minor:
            # ``admin.refunds`` refuses a part before asking (``refunds_in_full``).
            raise ProviderError("creem: refunds a whole payment only")
        api = _api(ctx)
        try:
            transaction_id = order.payment_id
            if transaction_id is None and order.session_id is not None:
                transaction_id = (await api.checkout(order.session_id)).transaction_id
            if transaction_id is None:
                raise ProviderError("creem: no transaction to refund")
            transaction = await api.transaction(transaction_id)
            if transaction.status == "refunded":
                return Refunded(transaction_id, transaction.status)
            if transaction.status not in ("paid", "partialRefund"):
                raise ProviderError(f"creem: the transaction is {transaction.status}")
            made = await api.refund(transaction_id)
        except ChannelError as exc:
            raise channel_failed(CREEM, exc) from None
        if made.status in ("failed", "canceled"):
            raise ProviderError(f"creem: refund {made.status}")
        return Refunded(made.id, made.status)
