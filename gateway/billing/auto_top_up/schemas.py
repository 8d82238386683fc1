"""Wire models of a wallet's auto top-up: what a PUT sets, what a setup saves, what is answered."""

from pydantic import ConfigDict, Field, StrictBool, StrictInt

from ...values.model import Model

__all__ = [
    "MAX_CENTS",
    "AutoTopUpData",
    "AutoTopUpRequest",
    "AutoTopUpRun",
    "PaymentMethodData",
    "SetupData",
    "SetupRequest",
]

# The largest threshold, target, amount or cap: a million dollars, far past any wallet's need.
MAX_CENTS = 100_000_000


class AutoTopUpRequest(Model):
    """A wallet's auto top-up: under ``threshold_cents`` the wallet is brought back to
    ``target_cents`` or given ``amount_cents`` (exactly one of them), never more than
    ``monthly_cap_cents`` a calendar month (UTC; staging: its test clock's)."""

    model_config = ConfigDict(extra="forbid")

    threshold_cents: StrictInt = Field(ge=1, le=MAX_CENTS)
    target_cents: StrictInt | None = Field(default=None, ge=1, le=MAX_CENTS)
    amount_cents: StrictInt | None = Field(default=None, ge=1, le=MAX_CENTS)
    monthly_cap_cents: StrictInt = Field(ge=1, le=MAX_CENTS)
    enabled: StrictBool = True


class SetupRequest(Model):
    """Staging: the sandbox's test card to save (``pm_card_visa`` succeeds,
    ``pm_card_chargeDeclined`` and ``pm_card_authenticationRequired`` are refused). Live
    takes no body: it opens Stripe Checkout in setup mode."""

    model_config = ConfigDict(extra="forbid")

    payment_method: str | None = Field(default=None, max_length=60)


class PaymentMethodData(Model):
    provider: str
    label: str | None


class AutoTopUpRun(Model):
    """One auto top-up: ``status`` ``due`` (charging), ``done`` or ``failed``; ``outcome``
    ``credited``, ``capped`` (the month's cap reached), ``not_needed``, ``off`` or ``refused``."""

    id: str
    status: str
    outcome: str | None
    amount_cents: int | None
    order_id: str | None
    created_at: str


class AutoTopUpData(Model):
    """A wallet's auto top-up as it stands: ``armed`` when enabled with a saved payment method
    (a debit under the threshold then charges it); ``month_cents`` what this month took."""

    env: str
    enabled: bool
    armed: bool
    threshold_cents: int
    target_cents: int | None
    amount_cents: int | None
    monthly_cap_cents: int
    month: str
    month_cents: int
    payment_method: PaymentMethodData | None
    failures: int
    disabled_reason: str | None
    runs: list[AutoTopUpRun]


class SetupData(Model):
    """A setup: ``saved`` at once (staging's sandbox card), or ``open`` at ``url`` (Stripe
    Checkout in setup mode), saved when the merchant completes it."""

    status: str
    provider: str
    url: str | None
    payment_method: PaymentMethodData | None
