"""Wire models of the funding routes: what requests must be, and what replies carry."""

import re
from typing import Literal

from pydantic import (
    ConfigDict,
    EmailStr,
    Field,
    computed_field,
    field_validator,
    model_validator,
)

from ..values.model import Model
from ..values.money import as_decimal
from ..values.urls import split_url
from .channels.schemas import ChannelInfo
from .receipts.schemas import BillingProfileData

__all__ = [
    "LEDGER_CURSOR",
    "CheckoutData",
    "CheckoutRequest",
    "HistoryItem",
    "HistoryQuery",
    "InvoiceRequest",
    "LedgerItem",
    "LedgerQuery",
    "OffsetQuery",
    "OrderData",
    "OrdersQuery",
    "PackData",
    "ReceiptData",
    "RedeemData",
    "RedeemRequest",
    "RefundData",
    "RefundRequest",
    "StripeAck",
    "TierData",
    "TopupInfo",
    "absolute_http_url",
]

HISTORY_PAGE_SIZE = 20


def absolute_http_url(value: str) -> str:
    """An absolute http(s) URL, kept byte for byte (Stripe expands ``{CHECKOUT_SESSION_ID}``)."""
    if len(value) > 2048:
        raise ValueError("must be at most 2048 characters")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    try:
        parts = split_url(value)
    except ValueError:
        raise ValueError("must be an absolute http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return value


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class PackData(Model):
    model_config = ConfigDict(from_attributes=True)  # built straight from a ``packs`` row

    id: str
    name: str
    price_cents: int
    currency: str
    credits: int = Field(description="Credit units, 1,000 per dollar of top-ups.")
    credit_cents: int = Field(description="What lands in the wallet: credits / 10.")
    popular: bool

    @computed_field(  # type: ignore[prop-decorator]
        description="price_cents as decimal currency (20.0 for 2000), as packs are priced "
        "elsewhere; price_cents is the amount."
    )
    @property
    def price(self) -> float:
        return as_decimal(self.price_cents)


class CheckoutRequest(_Strict):
    channel: str | None = Field(
        default=None,
        min_length=1,
        max_length=30,
        description="The payment channel (GET /billing/topup-info's channels); unset, the "
        "sandbox in staging and Stripe in live. Staging pays every channel through the "
        "sandbox, on a page titled for the channel.",
    )
    pack_id: str | None = Field(default=None, min_length=1, max_length=40)
    amount_cents: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description="A custom amount to land in the wallet, instead of a pack: within "
        "GET /billing/topup-info's min, max and step; its discount tier applies.",
    )
    coupon: str | None = Field(default=None, min_length=1, max_length=40)
    success_url: str | None = Field(
        default=None,
        description="Where the payer lands after paying; unset, the gateway's own page "
        "(GET /billing/checkout/done), which says what was credited.",
    )
    cancel_url: str | None = Field(
        default=None,
        description="Where the payer lands after giving up; unset, the gateway's own page, "
        "which says the payment was cancelled.",
    )

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else absolute_http_url(value)

    product_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="The pack's id under the name other APIs' order creation takes: the same "
        "as pack_id (give one of them).",
    )

    @model_validator(mode="after")
    def _one_target(self) -> "CheckoutRequest":
        if self.product_id is not None:
            if self.pack_id is not None and self.pack_id != self.product_id:
                raise ValueError("product_id is pack_id: give one of them")
            self.pack_id, self.product_id = self.product_id, None
        if (self.pack_id is None) == (self.amount_cents is None):
            raise ValueError("give exactly one of pack_id and amount_cents")
        return self


class CheckoutData(Model):
    order_id: str

    @computed_field(  # type: ignore[prop-decorator]
        description="order_id under the name other APIs' order creation answers it."
    )
    @property
    def order_no(self) -> str:
        return self.order_id

    status: Literal["pending"]
    provider: str = Field(description="Who takes the payment: the channel, or the sandbox.")
    channel: str = Field(description="The channel the payer pays through.")
    checkout_url: str
    pack_id: str | None = Field(description="None for a custom amount.")
    name: str = Field(description='The pack\'s name, or "Custom amount".')
    credits: int
    credit_cents: int = Field(description="What lands in the wallet once paid.")
    price_cents: int
    tier_percent: int = Field(description="The discount tier's percent off (custom amounts).")
    tier_discount_cents: int
    discount_cents: int = Field(description="The coupon's discount.")
    amount_cents: int = Field(
        description="What the payer is charged: price less the tier's and the coupon's discount."
    )
    currency: str
    coupon: str | None
    expires_at: str = Field(
        description="The order can be paid until then (RFC 3339); after it, it expires and "
        "gives its coupon use back."
    )


class RedeemRequest(_Strict):
    code: str = Field(min_length=1, max_length=64)


class RedeemData(Model):
    order_id: str
    env: str
    amount_cents: int
    balance_cents: int


OrderStatus = Literal["pending", "completed", "failed", "expired"]


class HistoryQuery(Model):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=1_000_000)
    status: OrderStatus | None = None


class _OrderFields(Model):
    """What the funding history and the orders both say of one order, meant alike."""

    id: str
    kind: Literal["checkout", "redemption", "invoice", "agent", "auto"]
    provider: str = Field(description="Who took the payment: a channel, sandbox or redemption")
    pack_id: str | None
    credits: int
    credit_cents: int
    discount_cents: int = Field(description="The coupon's discount.")
    currency: str
    status: OrderStatus
    failure_reason: str | None
    expires_at: str | None = Field(description="A checkout can be paid until then.")
    created_at: str
    completed_at: str | None


class HistoryItem(_OrderFields):
    """One order as the funding history lists it."""

    pack_name: str | None
    amount_paid_cents: int = Field(
        description="What was paid: the amount charged once completed, 0 while pending and "
        "for an order that failed or expired unpaid."
    )
    amount_due_cents: int = Field(
        description="What the order charges the payer (its price less any discount), paid or not."
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="amount_paid_cents as decimal currency (20.0 for 2000), as top-up "
        "histories elsewhere answer it; amount_paid_cents is the amount."
    )
    @property
    def amount_paid(self) -> float:
        return as_decimal(self.amount_paid_cents)

    channel: str | None = Field(
        description="The channel the payer chose (in staging, the one the sandbox stood in "
        "for); none for redemptions and orders made before channels."
    )


class OffsetQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)


# The ledger's cursor: the id of the last entry of the page before, as the list's
# ``next_cursor`` gives it (at most 18 digits, so it fits the column's 64 bits).
LEDGER_CURSOR = re.compile(r"[1-9][0-9]{0,17}")


class LedgerQuery(OffsetQuery):
    """A page of the ledger at ``offset`` (as deep as it asks, each entry skipped read), or the
    page after ``cursor`` (read by key: the same cost at any depth); not both."""

    cursor: str | None = Field(
        default=None,
        description="next_cursor of the previous page: pages by key, at the same cost at any "
        "depth (not with offset)",
    )

    @model_validator(mode="after")
    def _one_way(self) -> "LedgerQuery":
        if self.cursor is not None and "offset" in self.model_fields_set:
            raise ValueError("send cursor or offset, not both")
        return self


class LedgerItem(Model):
    id: int
    number: int = Field(
        description="The entry's number in its wallet (the merchant's, in this env): 1, 2, 3, "
        "… with no gap, where id runs across every wallet."
    )
    env: str
    type: str = Field(
        description="topup_debit, topup_credit, topup_refund, initial_funding, sandbox_fund, "
        "checkout, redemption, adjustment, checkin_credit"
    )
    amount_cents: int
    reference: str | None
    description: str | None
    created_at: str

    @computed_field(  # type: ignore[prop-decorator]
        description="amount_cents as decimal currency (-0.5 for -50), as credit transactions "
        "elsewhere answer it; amount_cents is the amount."
    )
    @property
    def amount(self) -> float:
        return as_decimal(self.amount_cents)


class StripeAck(Model):
    event_id: str
    outcome: str = Field(
        description="credited, duplicate, already_completed, not_pending, failed_order, "
        "expired_order, awaiting_payment, mismatch, unknown_order, ignored"
    )


class TierData(Model):
    from_cents: int = Field(description="A custom amount of at least this many cents...")
    percent_off: int = Field(description="...is charged this percent less.")


class TopupInfo(Model):
    """What funding this environment offers (New API's ``topup/info``, in our envelope)."""

    env: str
    currency: Literal["USD"]
    packs: list[PackData]
    custom_amounts: bool = Field(description="Whether checkout takes {amount_cents}.")
    min_cents: int
    max_cents: int
    step_cents: int
    amount_options: list[int] = Field(description="Amounts offered as buttons, in cents.")
    discount_tiers: list[TierData]
    providers: list[str] = Field(
        description="How this environment pays: the sandbox (staging); in live each enabled "
        "channel, and <channel>_invoice for one that sends invoices (stripe_invoice)."
    )
    channels: list[ChannelInfo] = Field(
        description="The channels a checkout may name (POST /billing/checkout {channel}); in "
        "staging each is paid through the sandbox."
    )
    redemption: bool = Field(description="Whether POST /billing/redeem takes codes.")
    wallet_url: str = Field(description="The dashboard's wallet page, to fund by hand.")


class OrdersQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)
    status: OrderStatus | None = None


class OrderData(_OrderFields):
    """One funding order, as the merchant and the receipt see it."""

    env: str
    channel: str | None = Field(
        description="The channel the payer chose (in staging, the one the sandbox stood in "
        "for); none for orders made before channels and for redemptions."
    )
    provider_reference: str | None = Field(
        description="The provider's id of the payment: Stripe's Checkout Session or invoice id "
        "(none for the sandbox)."
    )
    provider_payment_id: str | None = Field(
        description="The provider's id of the money moved (Stripe's PaymentIntent, Creem's "
        "transaction), when known."
    )
    provider_status: str | None = Field(
        description="What the provider last said: paid, open, unpaid, expired or failed."
    )
    charge_minor: int | None = Field(
        description="What the payer is charged where the provider charges in its own currency: "
        "integer minor units of charge_currency (KWD has three decimals); none otherwise."
    )
    charge_currency: str | None
    charge_rate: str | None = Field(
        description="The rate used: units of charge_currency per unit of currency (decimal text)."
    )
    name: str | None
    price_cents: int
    tier_percent: int
    tier_discount_cents: int
    coupon: str | None
    amount_cents: int = Field(description="What the payer is charged.")
    updated_at: str
    checked_at: str | None = Field(description="When the provider was last asked about it.")
    invoice_url: str | None = Field(description="Stripe's hosted invoice page (invoices).")


class InvoiceRequest(_Strict):
    pack_id: str | None = Field(default=None, min_length=1, max_length=40)
    amount_cents: int | None = Field(default=None, ge=1, le=100_000_000)
    coupon: str | None = Field(default=None, min_length=1, max_length=40)
    email: EmailStr = Field(description="Where Stripe sends the invoice.")
    days_until_due: int = Field(default=30, ge=1, le=90)

    @model_validator(mode="after")
    def _one_target(self) -> "InvoiceRequest":
        if (self.pack_id is None) == (self.amount_cents is None):
            raise ValueError("give exactly one of pack_id and amount_cents")
        return self


class ReceiptData(Model):
    """A receipt, whatever was paid: a funding order or a subscription's period (``source``).
    Every figure is read from what was paid as it was recorded then, and the billing profile as
    it was when paid; an order and a period are two sources of this one shape, drawn by one
    page and one PDF."""

    receipt_number: str = Field(
        description="Its number in its environment's gap-free series (STG-000001, "
        "LIVE-000001); an order paid before receipts were numbered, or a redemption (not a "
        "sale), keeps its order id."
    )
    numbered: bool = Field(description="Whether receipt_number is from the series.")
    source: Literal["order", "subscription_period"] = Field(
        description="What was paid: a funding order, or one period of a subscription."
    )
    order_id: str | None = Field(description="The order paid (source order).")
    subscription_id: str | None = Field(description="The subscription (source period).")
    invoice_id: str | None = Field(
        description="The provider's invoice that paid the period (source period)."
    )
    period_start: str | None = Field(description="The period paid for (source period).")
    period_end: str | None
    env: str
    merchant_id: str
    merchant_name: str
    billed_to: BillingProfileData | None = Field(
        description="The merchant's billing profile when it was paid; null when it had none "
        "then, or for a receipt not numbered."
    )
    item: str = Field(
        description='The pack\'s name, "Custom amount", or the plan and its interval.'
    )
    credits: int
    credit_cents: int = Field(description="What landed in the wallet.")
    price_cents: int
    tier_percent: int
    tier_discount_cents: int
    coupon: str | None
    coupon_discount_cents: int
    amount_paid_cents: int
    currency: str
    provider: str
    payment_reference: str | None = Field(
        description="Stripe's PaymentIntent (or the session or invoice id when unknown); a "
        "period's invoice id."
    )
    paid_at: str
    html_url: str = Field(description="The receipt's page in the dashboard.")
    pdf_url: str = Field(description="The receipt as a PDF (GET, with a key of scope billing).")

    def paid_for(self) -> str:
        """What was paid, in a line of the receipt."""
        if self.source == "order":
            return f"Order {self.order_id} ({self.env})"
        period = f", {self.period_start or '?'} to {self.period_end or '?'}"
        return f"Subscription {self.subscription_id} ({self.env}){period}"


class RefundRequest(_Strict):
    amount_cents: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description="What to give back, in the order's currency; unset: all that is left of "
        "what was paid.",
    )
    reason: str = Field(
        min_length=1,
        max_length=400,
        description="Why, for operators: kept in the audit log, never shown to the merchant.",
    )


class RefundData(Model):
    """A refund made, or asked and not answered yet: what goes back to the payer, what it took
    from the wallet."""

    id: str = Field(description="The refund's id here.")
    status: str = Field(
        description="succeeded; or pending: the provider's answer not known yet, the worker "
        "asks again until it is (failed then gives the debit back)."
    )
    order_id: str
    env: str
    merchant_id: str
    channel: str | None
    amount_cents: int = Field(description="Given back to the payer now, in currency.")
    currency: str
    refunded_cents: int = Field(description="Given back of this order so far, this one too.")
    refundable_cents: int = Field(description="What is left to refund of the order.")
    debit_cents: int = Field(
        description="Taken from the merchant's wallet now: the credits this part had bought."
    )
    balance_cents: int = Field(description="The merchant's wallet after the debit.")
    refund_id: str | None = Field(
        default=None, description="The provider's id of the refund (none while pending)."
    )
    provider_status: str | None = Field(
        default=None, description="The provider's word for the refund's state."
    )
