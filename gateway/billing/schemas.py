"""Wire models of the funding routes: what requests must be, and what replies carry."""

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CheckoutData",
    "CheckoutRequest",
    "HistoryItem",
    "HistoryQuery",
    "LedgerItem",
    "OffsetQuery",
    "PackData",
    "RedeemData",
    "RedeemRequest",
    "StripeAck",
    "absolute_http_url",
]

HISTORY_PAGE_SIZE = 20


def absolute_http_url(value: str) -> str:
    """An absolute http(s) URL, kept byte for byte (Stripe expands ``{CHECKOUT_SESSION_ID}``)."""
    if len(value) > 2048:
        raise ValueError("must be at most 2048 characters")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PackData(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built straight from a ``packs`` row

    id: str
    name: str
    price_cents: int
    currency: str
    credits: int = Field(description="Credit units, 1,000 per dollar of top-ups.")
    credit_cents: int = Field(description="What lands in the wallet: credits / 10.")
    popular: bool


class CheckoutRequest(_Strict):
    pack_id: str = Field(min_length=1, max_length=40)
    coupon: str | None = Field(default=None, min_length=1, max_length=40)
    success_url: str = Field(description="Where the payer lands after paying.")
    cancel_url: str = Field(description="Where the payer lands after giving up.")

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return absolute_http_url(value)


class CheckoutData(BaseModel):
    order_id: str
    status: Literal["pending"]
    provider: Literal["stripe", "sandbox"]
    checkout_url: str
    pack_id: str
    credits: int
    credit_cents: int
    price_cents: int
    discount_cents: int
    amount_cents: int = Field(description="What the payer is charged: price less the coupon.")
    currency: str
    coupon: str | None
    expires_at: str = Field(
        description="The order can be paid until then (RFC 3339); after it, it expires and "
        "gives its coupon use back."
    )


class RedeemRequest(_Strict):
    code: str = Field(min_length=1, max_length=64)


class RedeemData(BaseModel):
    order_id: str
    env: str
    amount_cents: int
    balance_cents: int


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=1_000_000)


class HistoryItem(BaseModel):
    id: str
    kind: Literal["checkout", "redemption"]
    provider: str
    pack_id: str | None
    pack_name: str | None
    credits: int
    credit_cents: int
    amount_paid_cents: int
    discount_cents: int
    currency: str
    status: Literal["completed", "pending", "failed", "expired"]
    failure_reason: str | None
    expires_at: str | None = Field(description="A checkout can be paid until then.")
    created_at: str
    completed_at: str | None


class OffsetQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class LedgerItem(BaseModel):
    id: int
    env: str
    type: str = Field(
        description="topup_debit, topup_credit, topup_refund, initial_funding, sandbox_fund, "
        "checkout, redemption, adjustment"
    )
    amount_cents: int
    reference: str | None
    description: str | None
    created_at: str


class StripeAck(BaseModel):
    event_id: str
    outcome: str = Field(
        description="credited, duplicate, already_completed, not_pending, failed_order, "
        "expired_order, awaiting_payment, mismatch, unknown_order, ignored"
    )
