"""Wire models of plans and subscriptions: the operators' plans, the merchants' list, a payment
session of either type, the portal and the subscription as a merchant reads it."""

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ...values.model import Model
from ..schemas import absolute_http_url

__all__ = [
    "MAX_FEATURES",
    "OpenCheckoutData",
    "PaymentSessionData",
    "PaymentSessionRequest",
    "PlanAdminData",
    "PlanCreate",
    "PlanData",
    "PlanUpdate",
    "PlansQuery",
    "PortalData",
    "PortalRequest",
    "SubscriptionData",
    "SubscriptionInvoiceData",
    "SubscriptionInvoicesQuery",
    "SubscriptionReply",
]

Env = Literal["staging", "live"]
Interval = Literal["month", "year"]
MAX_FEATURES = 20
MAX_FEATURE_LENGTH = 200
# As a pack's: a plan's price or credit is never more than $1,000,000.
MAX_CENTS = 100_000_000
# Stripe's smallest charge in USD.
MIN_PRICE_CENTS = 50
CREDITS_EXPIRE = (
    "Whether a period's credits_included lapse at the period's end (its plan grant's "
    "expires_at); false: they never expire. A change holds from the next period paid."
)


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


def _features(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = [f.strip() for f in value]
    if any(not f or len(f) > MAX_FEATURE_LENGTH for f in cleaned):
        raise ValueError(f"each feature is 1 to {MAX_FEATURE_LENGTH} characters")
    return cleaned


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


class PlanCreate(_Strict):
    env: Env
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    price_monthly: int = Field(ge=MIN_PRICE_CENTS, le=MAX_CENTS, description="Cents, USD.")
    price_yearly: int = Field(ge=MIN_PRICE_CENTS, le=MAX_CENTS, description="Cents, USD.")
    credits_included: int = Field(
        ge=1, le=MAX_CENTS, description="Wallet cents credited for each paid period."
    )
    credits_expire: bool = Field(default=False, description=CREDITS_EXPIRE)
    features: list[str] = Field(default_factory=list, max_length=MAX_FEATURES)
    active: bool = True
    sort_order: int = Field(default=100, ge=0, le=1_000_000)

    _features = field_validator("features")(_features)


class PlanUpdate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    price_monthly: int | None = Field(default=None, ge=MIN_PRICE_CENTS, le=MAX_CENTS)
    price_yearly: int | None = Field(default=None, ge=MIN_PRICE_CENTS, le=MAX_CENTS)
    credits_included: int | None = Field(default=None, ge=1, le=MAX_CENTS)
    credits_expire: bool | None = Field(default=None, description=CREDITS_EXPIRE)
    features: list[str] | None = Field(default=None, max_length=MAX_FEATURES)
    active: bool | None = None
    sort_order: int | None = Field(default=None, ge=0, le=1_000_000)

    _features = field_validator("features")(_features)
    _present = field_validator(
        "name",
        "description",
        "price_monthly",
        "price_yearly",
        "credits_included",
        "credits_expire",
        "features",
        "active",
        "sort_order",
        mode="before",
    )(_not_null)


class PlanData(Model):
    """A plan as merchants read it (the seed's shape, and its currency)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str
    price_monthly: int = Field(description="Cents a month.")
    price_yearly: int = Field(description="Cents a year.")
    credits_included: int = Field(description="Wallet cents credited for each paid period.")
    features: list[str]
    currency: Literal["USD"] = "USD"


class PlanAdminData(PlanData):
    env: str
    credits_expire: bool = Field(description=CREDITS_EXPIRE)
    active: bool
    sort_order: int
    stripe_product_id: str | None
    stripe_price_monthly_id: str | None
    stripe_price_yearly_id: str | None
    created_at: str
    updated_at: str


class PlansQuery(Model):
    model_config = ConfigDict(extra="forbid")

    env: Env | None = None


class PaymentSessionRequest(_Strict):
    channel: str = Field(
        min_length=1, max_length=40, description="A subscription: stripe, or any channel GET "
        "/billing/topup-info lists with subscriptions true (creem); sandbox in staging. "
        "A topup: any channel GET /billing/topup-info lists. Staging pays through the sandbox "
        "whichever is named."
    )  # fmt: skip
    type: Literal["subscription", "topup"]
    plan_id: str | None = Field(default=None, min_length=1, max_length=40)
    interval: Interval | None = Field(default=None, description="month (default) or year.")
    pack_id: str | None = Field(default=None, min_length=1, max_length=40)
    success_url: str | None = None
    cancel_url: str | None = None

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else absolute_http_url(value)

    @model_validator(mode="after")
    def _targets(self) -> "PaymentSessionRequest":
        if self.type == "subscription":
            if self.plan_id is None or self.pack_id is not None:
                raise ValueError("a subscription names plan_id (and no pack_id)")
        elif self.pack_id is None or self.plan_id is not None or self.interval is not None:
            raise ValueError("a topup names pack_id (and no plan_id or interval)")
        return self


class PaymentSessionData(Model):
    type: Literal["subscription", "topup"]
    channel: str = Field(description="Who takes the payment: the channel, or the sandbox.")
    url: str = Field(description="Where to send the payer (absolute).")
    session_id: str | None = Field(description="The provider's session id (live).")
    order_id: str | None = Field(description="A topup's order.")
    subscription_id: str | None = Field(description="A subscription's id here.")
    plan_id: str | None
    interval: Interval | None
    expires_at: str | None


class PortalRequest(_Strict):
    return_url: str = Field(description="Where the portal sends the merchant back.")

    @field_validator("return_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return absolute_http_url(value)


class PortalData(Model):
    url: str = Field(description="The billing portal's page (absolute).")
    channel: str = Field(description="Whose portal: the subscription's channel, or the sandbox.")


class SubscriptionData(Model):
    id: str
    plan: PlanData
    interval: Interval
    status: Literal["incomplete", "active", "past_due", "canceled"]
    current_period_end: str | None
    cancel_at_period_end: bool
    periods_paid: int


class OpenCheckoutData(Model):
    subscription_id: str
    plan: PlanData
    interval: Interval
    channel: str = Field(description="Where it is paid: sandbox, stripe, or another channel.")
    url: str | None = Field(description="Where to continue paying it.")
    expires_at: str | None = Field(description="When it can no longer be paid, and ends.")


class SubscriptionReply(Model):
    subscription: SubscriptionData | None = Field(
        description="The merchant's subscription in this environment; null when none."
    )
    open_checkout: OpenCheckoutData | None = Field(
        default=None,
        description="A subscription checkout opened and not paid yet, which holds the "
        "merchant's place until it is paid, cancelled or expires; null when none.",
    )


class SubscriptionInvoicesQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class SubscriptionInvoiceData(Model):
    """A period of the merchant's subscription in this environment: paid (the invoice that
    paid it, once, whatever the provider sent; what it credited and its receipt), or failed
    (its payment was refused, and that invoice is not paid yet)."""

    id: str = Field(description="The provider's invoice id (Stripe's in_..., the sandbox's).")
    subscription_id: str
    plan_id: str
    plan: str | None = Field(description="The plan's name.")
    interval: Interval = Field(description="The subscription's billing interval.")
    period_start: str = Field(
        description="A paid period: the end of the period paid before it, or when the first "
        "was paid; a failed one: as the invoice said."
    )
    period_end: str | None
    amount_cents: int = Field(
        description="What the invoice charged (paid) or asked (failed), in its currency's cents."
    )
    currency: str
    credit_cents: int = Field(description="What the period credited to the wallet (0: failed).")
    status: Literal["paid", "failed"] = Field(
        description="failed: the invoice's payment was refused and it is not paid yet; once "
        "the same invoice is paid, the period is listed as paid instead."
    )
    receipt_number: str | None = Field(
        description="Its number in the environment's receipt series (null when failed, or "
        "for a period paid before periods were numbered)."
    )
    paid_at: str | None
    failed_at: str | None
    receipt_url: str | None = Field(
        description="GET: the receipt (JSON), with a key of scope billing; null when failed."
    )
    receipt_pdf_url: str | None = Field(description="GET: the receipt as a PDF.")
