"""Wire models of the admin API."""

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..billing.schemas import PackData
from ..merchants.names import NAME_MAX, check_name
from ..merchants.schemas import KeyCreated, KeyData, Name, WirePolicy, named
from ..values.model import Model
from ..values.timestamps import Instant

__all__ = [
    "AdjustmentData",
    "AdjustmentRequest",
    "ApiKeyCreated",
    "ApiKeyData",
    "AuditItem",
    "AuditQuery",
    "CodeBatchData",
    "CodeBatchRequest",
    "CodeItem",
    "CodeQuery",
    "CouponCreate",
    "CouponData",
    "CouponUpdate",
    "KeyCreate",
    "MerchantCreate",
    "MerchantData",
    "MerchantQuery",
    "MerchantUpdate",
    "PackAdminData",
    "PackCreate",
    "PackUpdate",
    "TransactionItem",
    "TransactionQuery",
]

Env = Literal["staging", "live"]
# What a merchant reads of an adjustment the operator gave no memo for: the reason and the actor
# are the operators' own.
NEUTRAL_MEMO = "Balance adjustment"
MAX_CODES_PER_BATCH = 1000
# Generous but finite: one code, adjustment or pack is never more than $1,000,000.
MAX_CENTS = 100_000_000


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


def _not_null(value: Any) -> Any:
    """For PATCH fields whose column holds no null: left out means unchanged, but an explicit
    null is no value at all (422, not a failed write)."""
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


class _Page(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10_000_000)


# --- merchants ---


class MerchantQuery(_Page):
    pass


class MerchantCreate(_Strict):
    name: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        description="A name (trimmed): no line break or control character, no @, no link or "
        "domain.",
    )
    low_balance_threshold_cents: int | None = Field(default=None, ge=0, le=MAX_CENTS)

    _name = field_validator("name")(check_name)


class MerchantUpdate(_Strict):
    """The fields sent are changed; at least one, and none null."""

    low_balance_threshold_cents: int | None = Field(default=None, ge=0, le=MAX_CENTS)
    env: Literal["staging", "live"] | None = Field(
        default=None,
        description="Set the threshold of this environment only; absent: both environments.",
    )
    notify_recipients: bool | None = Field(
        default=None, description="false: no voucher e-mail to this merchant's recipients"
    )

    @model_validator(mode="after")
    def _something_set(self) -> "MerchantUpdate":
        if not self.model_fields_set - {"env"}:
            raise ValueError("send at least one field to change")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if "env" in self.model_fields_set and self.low_balance_threshold_cents is None:
            raise ValueError("env names the environment of low_balance_threshold_cents: send both")
        return self


class MerchantData(Model):
    id: str
    name: str
    low_balance_threshold_cents: int
    notify_recipients: bool = Field(description="the voucher e-mail to recipients is on")
    low_balance_thresholds: dict[str, int] = Field(
        default_factory=dict,
        description="The threshold in force by env (staging, live): the merchant's own setting.",
    )
    balances: dict[str, int] = Field(description="Balance in cents by env: staging, live.")
    created_at: str
    retention_days: int | None = Field(
        default=None,
        description="Days of webhook history this merchant keeps; null: AITOPUP_RETENTION_DAYS.",
    )


class MerchantRetention(_Strict):
    retention_days: int | None = Field(
        ge=1,
        le=3650,
        description="Days of events, deliveries and attempts kept for this merchant; null "
        "returns it to AITOPUP_RETENTION_DAYS. The ledger, top-ups and orders are always kept.",
    )


# --- API keys ---


class KeyCreate(_Strict):
    env: Env
    name: Name | None = None
    policy: WirePolicy | None = Field(
        default=None,
        description="null or left out: every scope and no limit, so a merchant's first key "
        "can make the others.",
    )

    _name = field_validator("name")(named)


# A key reads the same to operators as to the merchant (``merchants.schemas``).
ApiKeyData = KeyData
ApiKeyCreated = KeyCreated


# --- adjustments ---


class AdjustmentRequest(_Strict):
    env: Env
    amount_cents: int = Field(
        ge=-MAX_CENTS, le=MAX_CENTS, description="Positive credits, negative debits; not 0."
    )
    reason: str = Field(
        min_length=1,
        max_length=400,
        description="Why, for operators: kept in the audit log and the adjustments table, "
        "never shown to the merchant.",
    )
    memo: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="What the merchant reads in its ledger and the wallet.* webhook; "
        f'"{NEUTRAL_MEMO}" when not given.',
    )

    @field_validator("amount_cents")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0")
        return value

    @field_validator("reason", "memo")
    @classmethod
    def _meaningful(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None


class AdjustmentData(Model):
    id: str
    merchant_id: str
    env: str
    amount_cents: int
    reason: str
    memo: str = Field(description="What the merchant sees of this adjustment.")
    actor: str
    balance_cents: int
    created_at: str


# --- transactions ---


class TransactionQuery(_Page):
    merchant_id: str | None = Field(default=None, max_length=40)
    env: Env | None = None
    type: str | None = Field(default=None, max_length=30)
    reference: str | None = Field(default=None, max_length=60)


class TransactionItem(Model):
    id: int
    wallet_id: str
    merchant_id: str | None
    env: str
    type: str
    amount_cents: int
    reference: str | None
    description: str | None
    created_at: str


# --- packs ---


def _credits_whole_cents(value: int | None) -> int | None:
    if value is not None and value % 10:
        raise ValueError("must be a multiple of 10 (10 credits make a cent)")
    return value


class PackCreate(_Strict):
    id: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=1, max_length=100)
    price_cents: int = Field(ge=50, le=MAX_CENTS)
    credits: int = Field(ge=10, le=MAX_CENTS * 10)
    popular: bool = False
    active: bool = True
    sort_order: int = Field(default=100, ge=0, le=1_000_000)

    _whole = field_validator("credits")(_credits_whole_cents)


class PackUpdate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    price_cents: int | None = Field(default=None, ge=50, le=MAX_CENTS)
    credits: int | None = Field(default=None, ge=10, le=MAX_CENTS * 10)
    popular: bool | None = None
    active: bool | None = None
    sort_order: int | None = Field(default=None, ge=0, le=1_000_000)

    _whole = field_validator("credits")(_credits_whole_cents)
    _present = field_validator(
        "name", "price_cents", "credits", "popular", "active", "sort_order", mode="before"
    )(_not_null)


class PackAdminData(PackData):
    """What merchants see of a pack, and what only operators manage."""

    active: bool
    sort_order: int


# --- coupons ---


class CouponCreate(_Strict):
    code: str = Field(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    percent_off: int | None = Field(default=None, ge=1, le=100)
    amount_off_cents: int | None = Field(default=None, ge=1, le=MAX_CENTS)
    pack_id: str | None = Field(default=None, max_length=40)
    expires_at: Instant | None = Field(default=None, strict=False)
    max_uses: int | None = Field(default=None, ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _one_discount(self) -> "CouponCreate":
        if (self.percent_off is None) == (self.amount_off_cents is None):
            raise ValueError("give exactly one of percent_off and amount_off_cents")
        return self


class CouponUpdate(_Strict):
    active: bool | None = None
    expires_at: Instant | None = Field(
        default=None, strict=False, description="null: never expires."
    )
    max_uses: int | None = Field(default=None, ge=1, le=10_000_000, description="null: no limit.")

    _present = field_validator("active", mode="before")(_not_null)


class CouponData(Model):
    id: str
    code: str
    percent_off: int | None
    amount_off_cents: int | None
    pack_id: str | None
    expires_at: str | None
    max_uses: int | None = Field(description="The limit in each environment, apart.")
    uses: int = Field(description="Live uses: held by pending orders or paid.")
    uses_by_env: dict[str, int] = Field(
        description="Uses by env (staging, live): a staging checkout never takes a live use."
    )
    active: bool
    created_at: str


# --- redemption codes ---


class CodeBatchRequest(_Strict):
    count: int = Field(ge=1, le=MAX_CODES_PER_BATCH)
    amount_cents: int = Field(ge=1, le=MAX_CENTS)
    env: Env
    name: str | None = Field(default=None, min_length=1, max_length=100)
    expires_at: Instant | None = Field(default=None, strict=False)

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(value.tzinfo):
            raise ValueError("must be in the future")
        return value


class CodeBatchData(Model):
    batch_id: str
    env: str
    amount_cents: int
    name: str | None
    expires_at: str | None
    codes: list[str] = Field(description="The codes themselves: shown here, once, never again.")


class CodeQuery(_Page):
    batch_id: str | None = Field(default=None, max_length=40)
    env: Env | None = None
    status: Literal["unused", "redeemed", "expired", "voided"] | None = None


class CodeItem(Model):
    id: str
    batch_id: str
    name: str | None
    env: str
    amount_cents: int
    hint: str = Field(description="The code's last four characters, to tell codes apart.")
    status: Literal["unused", "redeemed", "expired", "voided"]
    expires_at: str | None
    redeemed_at: str | None
    redeemed_by: str | None
    order_id: str | None
    created_by: str
    created_at: str
    voided_at: str | None = None


# --- audit ---


class AuditQuery(_Page):
    action: str | None = Field(default=None, max_length=60)
    target_id: str | None = Field(default=None, max_length=60)
    actor: str | None = Field(default=None, max_length=100)


class AuditItem(Model):
    id: int
    actor: str
    action: str
    method: str
    path: str
    target_id: str | None
    status_code: int
    code: int
    details: dict[str, Any] | None
    request_id: str | None
    created_at: str
