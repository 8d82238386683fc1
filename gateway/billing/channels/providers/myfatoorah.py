"""MyFatoorah (KNET, cards and wallets in the Gulf), through its v2 API
(``billing.channels.protocols.myfatoorah``).

``open`` makes an invoice with ``SendPayment`` in the order's currency, then asks
``GetPaymentStatus`` what MyFatoorah made of it in the account's own currency: that is the
order's ``charge`` (KWD in fils, three places) and its rate. The payer comes back to the
gateway's return page (``CallBackUrl`` and ``ErrorUrl`` alike), which looks the invoice up
(``look_up``) rather than believe the redirect. The v2 webhook credits: its signature covers
the invoice id, its status, the transaction's status and payment id and our order id, and
nothing else, so the amounts it reports are only matched (an amount changed on the way is a
mismatch, never a credit of its own) and the order is credited its own ``credit_cents``.
"""

from datetime import timedelta
from typing import ClassVar

from pydantic import SecretStr

from ..protocols import myfatoorah
from ..protocols.exchange import ChannelError
from ..protocols.money import Money, rate
from .base import Context, Provider, channel_api, channel_failed
from .credentials import ApiRoot, Credentials, CurrencyCode
from .errors import NoticeMalformed, NoticeRefused, ProviderError
from .messages import Charge, Inbound, Looked, Notice, NoticeState, Opened, OrderRef, PaymentRequest

__all__ = ["MYFATOORAH", "MyFatoorahCredentials", "MyFatoorahProvider"]

MYFATOORAH = "myfatoorah"
# How long an invoice takes payment, here and at MyFatoorah (its ``ExpiryDate``).
INVOICE_TTL = timedelta(hours=24)


class MyFatoorahCredentials(Credentials):
    """An account's API token and webhook secret key (portal: Integration Settings), its API
    root (``https://apitest.myfatoorah.com`` to test; the live root depends on the account's
    country) and its currency, in which MyFatoorah settles (KWD for a Kuwaiti account)."""

    token: SecretStr
    webhook_secret: SecretStr
    api_base: ApiRoot = myfatoorah.LIVE_API_BASE
    currency: CurrencyCode = "KWD"


def _api(ctx: Context[MyFatoorahCredentials]) -> myfatoorah.MyFatoorah:
    return channel_api(myfatoorah.MyFatoorah, ctx, ctx.credentials.api_base, ctx.credentials.token)


class MyFatoorahProvider(Provider[MyFatoorahCredentials]):
    name: ClassVar[str] = MYFATOORAH
    title: ClassVar[str] = "MyFatoorah"
    methods: ClassVar[tuple[str, ...]] = ("KNET", "Card", "Apple Pay")
    credentials: ClassVar[type[Credentials]] = MyFatoorahCredentials
    can_look_up: ClassVar[bool] = True
    body_limit: ClassVar[int] = myfatoorah.MAX_NOTIFICATION_BYTES

    async def open(self, ctx: Context[MyFatoorahCredentials], req: PaymentRequest) -> Opened:
        expires_at = ctx.now + INVOICE_TTL
        api = _api(ctx)
        try:
            made = await api.send_payment(
                myfatoorah.payment_request(
                    order_id=req.order_id,
                    amount=Money(req.amount_minor, req.currency),
                    customer_name=req.merchant_id,
                    callback_url=req.return_url,
                    error_url=req.return_url,
                    expires_at=expires_at,
                )
            )
            invoice = await api.payment_status(made.invoice_id, ctx.credentials.currency)
        except ChannelError as exc:
            raise channel_failed(MYFATOORAH, exc) from None
        asked = Money(req.amount_minor, req.currency)
        if invoice.asked != asked or invoice.paid is None or invoice.paid.minor <= 0:
            # MyFatoorah made an invoice for another amount: never shown to anyone, it lapses.
            raise ProviderError("myfatoorah: the invoice is not for the order's amount")
        charge = Charge(invoice.paid.minor, invoice.paid.currency, str(rate(invoice.paid, asked)))
        return Opened(made.url, made.invoice_id, expires_at, charge)

    def _read(
        self, ctx: Context[MyFatoorahCredentials], inbound: Inbound
    ) -> myfatoorah.Notification:
        secret = ctx.credentials.webhook_secret.get_secret_value()
        header = inbound.headers.get(myfatoorah.SIGNATURE_HEADER.lower())
        return myfatoorah.read_notification(inbound.body, header, secret, ctx.now)

    def verify(self, ctx: Context[MyFatoorahCredentials], inbound: Inbound) -> None:
        try:
            self._read(ctx, inbound)
        except myfatoorah.Refused as refused:
            if refused.reason != "unsupported":  # verified, only not a payment's
                raise NoticeRefused(refused.reason) from None

    def parse(self, ctx: Context[MyFatoorahCredentials], inbound: Inbound) -> Notice:
        try:
            read = self._read(ctx, inbound)
        except myfatoorah.Refused as refused:
            if refused.key is not None:
                return Notice(refused.key, "ignored", None, "REFUND_STATUS_CHANGED")
            raise NoticeMalformed(refused.reason) from None
        # A failed attempt leaves the invoice payable: nothing to do until the next report.
        states: dict[myfatoorah.State, NoticeState] = {
            "paid": "paid",
            "expired": "expired",
            "open": "ignored",
        }
        state, order_id = states[read.state], read.reference or None
        if order_id is None and state == "paid":
            # No signed order id: the unsigned one may name the order, since a payment is only
            # credited to the order whose invoice this signed one is.
            order_id = read.unsigned_reference
        elif order_id is None:
            # Nothing would check an unsigned order id before expiring that order: the order's
            # own expiry and reconciliation settle it instead.
            state = "ignored"
        return Notice(
            event_id=read.key,
            state=state,
            order_id=order_id,
            kind=f"PAYMENT_STATUS_CHANGED {read.invoice_status}/{read.transaction_status}"[:100],
            # Signed: whatever order id is named, the order's own invoice must be this one.
            session_id=read.invoice_id,
            payment_id=read.payment_id or None,
            amount_minor=read.paid.minor if read.paid is not None else None,
            currency=read.paid.currency if read.paid is not None else None,
            created=read.created,
            amount_signed=False,
        )

    async def look_up(self, ctx: Context[MyFatoorahCredentials], order: OrderRef) -> Looked:
        if order.session_id is None:
            raise ProviderError("myfatoorah: the order has no invoice")
        try:
            invoice = await _api(ctx).payment_status(order.session_id, ctx.credentials.currency)
        except ChannelError as exc:
            raise channel_failed(MYFATOORAH, exc) from None
        return Looked.paying(
            invoice.state, invoice.status, invoice.invoice_id, invoice.payment_id, invoice.paid
        )
