"""Creem (a merchant of record: cards, PayPal, local methods), through its API
(``billing.channels.creem``).

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
"""

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from ...values.codes import Code
from ...values.outcome import ApiError
from ..channels import creem
from ..channels.exchange import NO_ANSWER, ChannelError
from ..channels.money import Money
from .base import (
    Context,
    Credentials,
    Inbound,
    Looked,
    Notice,
    NoticeMalformed,
    NoticeRefused,
    Opened,
    OrderRef,
    PaymentRequest,
    Provider,
    ProviderError,
)

__all__ = ["CREEM", "CreemCredentials", "CreemProvider"]

CREEM = "creem"
_COMPLETED = "checkout.completed"


class CreemCredentials(Credentials):
    """An API key and the webhook's signing secret (dashboard: Developers), the API root
    (``https://test-api.creem.io`` in test mode) and the products that charge orders."""

    api_key: SecretStr
    webhook_secret: SecretStr
    api_base: str = creem.LIVE_API_BASE
    pack_products: dict[str, str] = Field(default_factory=dict, max_length=100)
    amount_product: str | None = None
    unit_cents: int = Field(default=100, ge=1, le=1_000_000)

    @field_validator("api_base")
    @classmethod
    def _root(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("an absolute http(s) URL")
        return value.rstrip("/")

    def catalogue(self) -> creem.Catalogue:
        return creem.Catalogue(self.pack_products, self.amount_product, self.unit_cents)


def _failed(exc: ChannelError) -> ProviderError:
    return ProviderError(
        f"creem: {exc.outcome}", timeout=exc.outcome == NO_ANSWER, status=exc.status
    )


def _api(ctx: Context[CreemCredentials]) -> creem.Creem:
    return creem.Creem(
        ctx.http,
        ctx.credentials.api_base,
        ctx.credentials.api_key.get_secret_value(),
        ctx.settings.payment_timeout_seconds,
    )


class CreemProvider(Provider[CreemCredentials]):
    name: ClassVar[str] = CREEM
    title: ClassVar[str] = "Creem"
    methods: ClassVar[tuple[str, ...]] = ("Card", "PayPal")
    credentials: ClassVar[type[Credentials]] = CreemCredentials
    can_look_up: ClassVar[bool] = True
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
            raise _failed(exc) from None
        raise ApiError(Code.CHANNEL_AMOUNT_NOT_OFFERED, data={"channel": CREEM})

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
        if event.type != _COMPLETED:
            return Notice(event.id, "ignored", None, event.type[:100], created=event.created)
        try:
            checkout = creem.checkout_of(event.object)
        except ChannelError:
            raise NoticeMalformed("no checkout in checkout.completed") from None
        metadata = checkout.metadata
        order_id = metadata.get("order_id")
        merchant_id = metadata.get("merchant_id")
        return Notice(
            event_id=event.id,
            state="paid" if checkout.state == "paid" else "ignored",
            order_id=order_id if isinstance(order_id, str) else checkout.request_id,
            kind=event.type,
            session_id=checkout.id,
            payment_id=checkout.order_id,
            amount_minor=checkout.paid.minor if checkout.paid is not None else None,
            currency=checkout.paid.currency if checkout.paid is not None else None,
            merchant_id=merchant_id if isinstance(merchant_id, str) else None,
            created=event.created,
        )

    async def look_up(self, ctx: Context[CreemCredentials], order: OrderRef) -> Looked:
        if order.session_id is None:
            raise ProviderError("creem: the order has no checkout")
        try:
            checkout = await _api(ctx).checkout(order.session_id)
        except ChannelError as exc:
            raise _failed(exc) from None
        return Looked(
            checkout.state,
            checkout.status,
            checkout.id,
            checkout.order_id,
            checkout.paid.minor if checkout.paid is not None else None,
            checkout.paid.currency if checkout.paid is not None else None,
        )
