"""The model of every event's ``data`` (a ``Payload``) and of the body each POST carries around
it (``EventBody``): strict and closed when validating, open when published. The table of event
types (``event_types.EVENTS``) names each with when it is sent, an example and its version."""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from ..policies.model import Interval
from ..values.model import Model
from ..values.platforms import Platform

__all__ = [
    "AutoTopUpDisabled",
    "BalanceLow",
    "BudgetWindow",
    "Charge",
    "ChargeRefunded",
    "CheckinCredited",
    "CreditExpired",
    "Currency",
    "Day",
    "DeliveryExhausted",
    "DeliveryRecovered",
    "DeliverySkipped",
    "EndpointAutoDisabled",
    "EndpointDisabled",
    "EndpointFailing",
    "EndpointRecovered",
    "Env",
    "EnvironmentFrozen",
    "EnvironmentUnfrozen",
    "EventBody",
    "EventSpec",
    "Fulfilment",
    "KeyBudgetLow",
    "LastAttempt",
    "OrderPaid",
    "Payload",
    "Rfc3339",
    "SubscriptionEvent",
    "SubscriptionPaid",
    "TopupApprovalDenied",
    "TopupApprovalExpired",
    "TopupApprovalRequired",
    "TopupCancelled",
    "TopupDelivered",
    "TopupEvent",
    "TopupFailed",
    "VoucherRedeemed",
    "WalletMoved",
    "WebhookTest",
]


def _open(schema: dict[str, Any]) -> None:
    schema.pop("additionalProperties", None)


class Payload(Model):
    """A model of an event's ``data``: strict and closed when validating, open when published.
    Built on its first use (a validation, the published table), as every ``Model`` is: every
    process imports the table, few read it."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_open)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type: ``data`` is its payload's model, ``example`` a ``data`` it validates."""

    name: str
    data: type[Payload]
    description: str
    version: str
    example: dict[str, Any]


Rfc3339 = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
        json_schema_extra={"format": "date-time"},
        description="RFC 3339, UTC.",
    ),
]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="A UTC day.")]
Env = Literal["staging", "live"]
Currency = Literal["USD"]


# --- top-ups ---------------------------------------------------------------------------------


class Fulfilment(Payload):
    provider: str = Field(description="The upstream that fulfilled the send.")
    reference: str = Field(description="Our reference at that upstream.")


class TopupEvent(Payload):
    """The body of every top-up event (``topup.lifecycle.event_data``)."""

    transaction_id: str = Field(pattern=r"^txn_")
    status: str
    platform: Platform
    amount_cents: int = Field(gt=0)
    recipient_email: str
    metadata: dict[str, Any] | None = Field(description="The send's metadata, as sent.")
    mail: Literal["queued", "staged", "held", "off"] | None = Field(
        default=None, description="What became of the voucher e-mail (a delivery only)."
    )
    app_id: str | None = Field(default=None, description="The app whose token sent it.")
    fulfilment: Fulfilment | None = Field(
        default=None, description="The upstream that fulfilled it, when one did."
    )


class TopupDelivered(TopupEvent):
    status: Literal["delivered"]


class TopupFailed(TopupEvent):
    status: Literal["failed"]
    failure_reason: str | None = Field(default=None, description="Why it failed.")


class TopupCancelled(TopupEvent):
    status: Literal["cancelled"]


class TopupApprovalRequired(TopupEvent):
    status: Literal["pending_approval"]
    approval_expires_at: Rfc3339 = Field(description="Refunded then if no one decides it.")


class TopupApprovalDenied(TopupEvent):
    status: Literal["denied"]


class TopupApprovalExpired(TopupEvent):
    status: Literal["expired"]


class VoucherRedeemed(TopupEvent):
    status: Literal["delivered"]
    redeemed_at: Rfc3339
    recipient_balance_cents: int = Field(description="What the recipient has left at the merchant.")


# --- balances, keys, wallets -----------------------------------------------------------------


class BalanceLow(Payload):
    balance_cents: int = Field(description="The wallet's balance after the debit.")
    threshold_cents: int = Field(
        description="The level crossed: the lowest, where one debit crossed several."
    )
    thresholds_cents: list[int] = Field(description="The wallet's levels, highest first.")
    low_balance_threshold_cents: int = Field(
        description="Deprecated: the wallet's highest level, as the setting of this name says it "
        "everywhere (GET /wallet/alerts, GET /balance, the admin API); the level crossed is "
        "threshold_cents. With one level they are the same.",
        json_schema_extra={"deprecated": True},
    )
    currency: Currency


class BalanceRecovered(Payload):
    balance_cents: int = Field(description="The wallet's balance after the credit.")
    threshold_cents: int = Field(
        description="The highest level crossed since the balance was last on the safe side, "
        "which the credit brought it back a margin above."
    )
    currency: Currency


class BudgetWindow(Payload):
    interval: Interval | None
    limit_cents: int
    spent_cents: int
    crossed: Literal[True]
    resets_at: Rfc3339 | None


class KeyBudgetLow(Payload):
    key_id: str
    soft_limit_percent: int = Field(ge=1, le=100)
    windows: list[BudgetWindow] = Field(min_length=1)


class WalletMoved(Payload):
    """``billing.funding``'s body of ``wallet.credited`` and ``wallet.debited``."""

    env: Env
    amount_cents: int = Field(description="Positive for a credit, negative for a debit.")
    balance_cents: int = Field(description="The balance after the change.")
    currency: Currency
    source: str = Field(description="The ledger entry's kind: checkout, redemption, …")
    reference: str
    description: str | None


class CreditExpired(Payload):
    """``ledger.grants``' body of ``credit.expired``: a grant reached its ``expires_at`` with
    credit left, which left the wallet with its own ledger entry."""

    env: Env
    grant_id: str = Field(pattern=r"^cg_")
    category: Literal["paid", "promotional", "plan"]
    amount_cents: int = Field(description="What the grant gave.")
    expired_cents: int = Field(description="What was left of it, taken out of the wallet.")
    balance_cents: int = Field(description="The wallet's balance after the expiry.")
    currency: Currency
    expires_at: Rfc3339


class OrderPaid(Payload):
    """``billing.orders``' body of ``order.paid``: the order's own fields, named as
    ``GET /orders/{id}`` names them, and the receipt numbered with the payment."""

    order_id: str = Field(pattern=r"^ord_")
    env: Env
    kind: Literal["checkout", "invoice", "agent", "auto"] = Field(
        description="agent: an agent paid a 402's challenge itself (MPP, channel mpp); auto: "
        "the wallet's auto top-up charged its saved payment method."
    )
    provider: str = Field(description="Who took the payment: a channel, or the sandbox.")
    channel: str | None = Field(
        description="The channel the payer chose (in staging, the one the sandbox stood in "
        "for); none for orders made before channels."
    )
    pack_id: str | None = Field(description="The pack bought; none for a custom amount.")
    credits: int = Field(gt=0)
    credit_cents: int = Field(gt=0, description="Credited to the wallet, once.")
    amount_cents: int = Field(gt=0, description="What the payer was charged, in currency.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    charge_minor: int | None = Field(
        description="Where the provider charges in its own currency: what it charged, in "
        "integer minor units of charge_currency; none otherwise."
    )
    charge_currency: str | None
    charge_rate: str | None = Field(
        description="The rate used: units of charge_currency per unit of currency (decimal text)."
    )
    receipt_number: str = Field(description="The receipt's number, taken as it was paid.")
    paid_at: Rfc3339


class CheckinCredited(Payload):
    id: str = Field(pattern=r"^chk_")
    amount_cents: int = Field(gt=0)
    balance_cents: int = Field(description="The balance after the credit.")
    currency: Currency
    checked_in_on: Day


class Charge(Payload):
    id: str = Field(pattern=r"^ch_")
    app_id: str
    amount_cents: int = Field(gt=0)
    description: str | None
    status: str


class ChargeRefunded(Charge):
    refunded_cents: int = Field(gt=0, description="The amount this refund gave back.")


# --- the webhooks themselves -----------------------------------------------------------------


class EndpointDisabled(Payload):
    endpoint_id: str = Field(pattern=r"^we_")
    url: str
    reason: str
    failing_since: Rfc3339 | None


# The operational events (``webhooks.operational``): about one of the merchant's endpoints or
# deliveries, sent to its other endpoints.


class LastAttempt(Payload):
    delivery_id: str = Field(pattern=r"^dlv_")
    at: Rfc3339 = Field(description="When the attempt started.")
    response_status: int | None = Field(description="The receiver's HTTP status, if it answered.")
    error: str | None = Field(description="What went wrong, in the delivery log's words.")


class EndpointFailing(Payload):
    endpoint_id: str = Field(pattern=r"^we_")
    url: str
    failing_since: Rfc3339 = Field(description="The first failure after a success.")
    disables_at: Rfc3339 = Field(
        description="When it is disabled if it goes on failing (AITOPUP_WEBHOOK_DISABLE_AFTER)."
    )
    last_attempt: LastAttempt


class EndpointAutoDisabled(Payload):
    endpoint_id: str = Field(pattern=r"^we_")
    url: str
    trigger: Literal["gone", "failing"] = Field(
        description="gone: it answered 410 Gone; failing: it failed for the whole window."
    )
    reason: str
    failing_since: Rfc3339 | None
    disabled_at: Rfc3339


class EndpointRecovered(Payload):
    endpoint_id: str = Field(pattern=r"^we_")
    url: str
    failing_since: Rfc3339 = Field(description="When the run of failures began.")
    recovered_at: Rfc3339 = Field(description="The first success after it.")


class DeliveryExhausted(Payload):
    delivery_id: str = Field(pattern=r"^dlv_")
    event_id: str = Field(pattern=r"^evt_", description="The message given up: its webhook-id.")
    event_type: str
    endpoint_id: str = Field(pattern=r"^we_")
    attempts: int = Field(ge=1, description="Every attempt of the delivery, its last included.")
    last_attempt: LastAttempt


class DeliverySkipped(Payload):
    delivery_id: str = Field(pattern=r"^dlv_")
    event_id: str = Field(pattern=r"^evt_", description="The message given up: its webhook-id.")
    event_type: str
    endpoint_id: str = Field(pattern=r"^we_", description="The ordered endpoint.")
    attempts: int = Field(ge=1, description="Every attempt of the delivery, its last included.")
    skipped_at: Rfc3339 = Field(description="When the next message was let go in its place.")


class DeliveryRecovered(Payload):
    delivery_id: str = Field(pattern=r"^dlv_")
    event_id: str = Field(pattern=r"^evt_", description="The message delivered: its webhook-id.")
    event_type: str
    endpoint_id: str = Field(pattern=r"^we_")
    failed_attempts: int = Field(ge=1, description="The failed attempts before this success.")
    recovered_at: Rfc3339 = Field(description="When the succeeding attempt started.")


class EnvironmentFrozen(Payload):
    frozen_at: Rfc3339
    by: str = Field(description="Who froze it: a key's display prefix, a member, the operator.")
    held: Literal["keep", "cancel"] = Field(
        description="What became of the sends held for approval: kept held (none is delivered "
        "while frozen), or cancelled and refunded."
    )
    held_cancelled: int = Field(ge=0, description="How many held sends the freeze cancelled.")


class EnvironmentUnfrozen(Payload):
    frozen_at: Rfc3339 = Field(description="When the freeze this ends began.")
    unfrozen_at: Rfc3339
    by: str = Field(description="Who unfroze it.")


class WebhookTest(Payload):
    endpoint_id: str = Field(pattern=r"^we_")
    message: str


# --- subscriptions ---------------------------------------------------------------------------


class SubscriptionEvent(Payload):
    """A subscription's state (``billing.subscriptions``), as every subscription event says it."""

    id: str = Field(pattern=r"^sub_", description="The subscription.")
    env: Env
    plan_id: str = Field(description="The plan it is on.")
    plan: str = Field(description="The plan's name.")
    interval: Literal["month", "year"]
    status: Literal["incomplete", "active", "past_due", "canceled"]
    current_period_end: Rfc3339 | None = Field(description="When the paid period ends.")
    cancel_at_period_end: bool


class SubscriptionPaid(SubscriptionEvent):
    """A period paid: the invoice that paid it (the key of its one credit) and the credit."""

    invoice_id: str = Field(description="The provider's invoice; credited once.")
    credit_cents: int = Field(ge=0, description="The plan's credits_included, credited.")


class AutoTopUpDisabled(Payload):
    """``billing.auto_top_up``: a wallet's auto top-up turned off by refusals in a row."""

    wallet_env: str = Field(description="The wallet's environment: staging or live.")
    failures: int = Field(ge=1, description="Refusals in a row that turned it off.")
    reason: str = Field(description="The last refusal, in the product's words.")
    disabled_at: Rfc3339
    last_run_id: str = Field(pattern=r"^atu_")


class EventBody(Model):
    """What every POST carries; ``type`` and ``data`` are narrowed per event type."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_open)

    id: str = Field(pattern=r"^evt_[0-9a-z]+$", description="Also the webhook-id header.")
    type: str
    created: Rfc3339
    env: Env
    data: Payload
