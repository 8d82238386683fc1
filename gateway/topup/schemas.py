"""Wire models of the top-up routes: what requests must be, and what replies carry."""

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, computed_field, field_validator

from ..billing.subscriptions.schemas import SubscriptionData
from ..values.addresses import RecipientEmail
from ..values.model import Model
from ..values.money import as_decimal
from ..values.platforms import Platform
from ..values.statuses import TopupStatus

__all__ = [
    "TXN_ID",
    "BalanceData",
    "FundRequest",
    "ListQuery",
    "RedeemVoucherRequest",
    "RedeemedData",
    "SendData",
    "SendRequest",
    "TopupData",
]


# A top-up's id: anything else is refused before the store is asked.
TXN_ID = re.compile(r"txn_[0-9a-z]{24}")


class ListQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


# Stripe's metadata limits.
_MAX_METADATA_KEYS = 50
MetadataKey = Annotated[str, Field(min_length=1, max_length=40)]
MetadataValue = Annotated[str, Field(max_length=500)]


class _Strict(Model):
    # Strict: 10 is an amount, "10", 10.0 and true are not. Unknown fields are refused.
    model_config = ConfigDict(extra="forbid", strict=True)


def _within_max(value: int, info: ValidationInfo, setting: str) -> int:
    limit = (info.context or {}).get(setting)
    if limit is not None and value > limit:
        raise ValueError(f"must be at most {limit}")
    return value


class SendRequest(_Strict):
    platform: Platform
    amount_cents: int = Field(ge=1, description="Integer cents, 1 to the configured maximum.")
    recipient_email: RecipientEmail = Field(max_length=254)
    metadata: dict[MetadataKey, MetadataValue] | None = Field(
        default=None, description="Up to 50 string pairs, kept with the top-up."
    )
    notify_recipient: bool = Field(
        default=True,
        description="false: no voucher e-mail to the recipient for this send (the merchant's "
        "own setting can turn it off for every send).",
    )

    @field_validator("recipient_email", mode="before")
    @classmethod
    def _short_enough(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) > 254:
            raise ValueError("must be at most 254 characters")
        return value

    @field_validator("amount_cents")
    @classmethod
    def _max_amount(cls, value: int, info: ValidationInfo) -> int:
        return _within_max(value, info, "max_topup_cents")

    @field_validator("metadata")
    @classmethod
    def _few_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > _MAX_METADATA_KEYS:
            raise ValueError(f"at most {_MAX_METADATA_KEYS} keys")
        return value


class FundRequest(_Strict):
    amount_cents: int = Field(ge=1)

    @field_validator("amount_cents")
    @classmethod
    def _max_amount(cls, value: int, info: ValidationInfo) -> int:
        return _within_max(value, info, "max_sandbox_fund_cents")


class SendData(Model):
    voucher_code: str | None = Field(
        description="The voucher; with an upstream provider, what the recipient redeems, null "
        "unless the key's policy says reveal_voucher (the code reaches the recipient alone). "
        "Null to an app whose consent does not reveal codes, whoever issued the code."
    )
    platform: Platform
    amount_cents: int
    new_balance_cents: int | None = Field(
        description="The recipient's balance with this merchant on this platform after the "
        "credit (their wallet, not the merchant's), in cents; null unless delivered."
    )
    wallet_balance_cents: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="The merchant's own wallet in the key's environment after this send "
        "(debited, or refunded when it failed), in cents: what is left to send, as GET "
        "/balance says it.",
    )
    approvers_asked: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="In the reply that held it (202 pending_approval, not its replays): how "
        "many people were asked to decide it, by mail and Telegram (at most 20). 0: the "
        "merchant has nobody who may decide it (a merchant made from the command line, until "
        "one is invited), so no mail tells anyone; decide it with a key holding the approvals "
        "scope, or on the dashboard.",
    )
    mail: Literal["queued", "staged", "held", "off"] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Present once delivered: the recipient's voucher e-mail is queued (live), "
        "staged (staging: in GET /emails), held (over a cap on voucher mails an hour, or "
        "the caps could not be counted: never sent), or off (the send or the merchant turned it "
        "off).",
    )
    # A plain mapping, not a nested model: the MCP tools' output schemas embed this one whole.
    fulfilment: dict[str, str] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Present with an upstream provider: {provider: newapi | openrouter, "
        "reference: ours, sent upstream, naming the top-up there}.",
    )


class TopupData(Model):
    id: str
    env: str
    status: TopupStatus
    platform: Platform
    amount_cents: int
    recipient_email: str
    voucher_code: str | None
    new_balance_cents: int | None
    metadata: dict[str, str] | None
    failure_reason: str | None
    approval_expires_at: str | None = Field(
        default=None, description="While pending_approval: when the hold expires and refunds."
    )
    mail: Literal["queued", "staged", "held", "off"] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="In the reply of an approval that delivered: the voucher e-mail, as the "
        "send's reply says it.",
    )
    redeemed_at: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Present once the voucher was redeemed (POST /vouchers/redeem): when.",
    )
    created_at: str
    updated_at: str


class RedeemVoucherRequest(_Strict):
    code: str = Field(
        min_length=1,
        max_length=64,
        description="The voucher as the recipient gave it: case, spaces and dashes do not matter.",
    )


class RedeemedData(Model):
    code: str = Field(description="The voucher in its one form, ATU-XXXX-XXXX-XXXX.")
    transaction_id: str = Field(description="The top-up that delivered it (txn_…).")
    platform: Platform
    amount_cents: int = Field(description="What the voucher is worth, now spent.")
    recipient_email: str = Field(description="Who it was sent to.")
    redeemed_at: str
    recipient_balance_cents: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="The recipient's balance at this merchant after the redemption (what "
        "is left unspent); present in the reply of the redemption itself.",
    )


class BalanceData(Model):
    env: str
    balance_cents: int = Field(description="Available: what sends can take now.")
    held_cents: int = Field(
        default=0,
        description="Debited and not yet spent nor given back: top-ups still pending or awaiting "
        "approval, and payments to sellers awaiting approval, being made or authorized but not "
        "yet used by the seller, each paid from the wallet (funded_by wallet; one the merchant's "
        "own instrument pays debited nothing).",
    )
    currency: Literal["USD"] = "USD"
    low_balance_threshold_cents: int

    @computed_field(  # type: ignore[prop-decorator]
        description="balance_cents as decimal currency (15.0 for 1500), as credit balances "
        "elsewhere answer it; balance_cents is the amount."
    )
    @property
    def balance(self) -> float:
        return as_decimal(self.balance_cents)

    subscription: SubscriptionData | None = Field(
        default=None,
        description="The merchant's subscription in this environment (plan, interval, status, "
        "current_period_end, cancel_at_period_end); null when none.",
    )
