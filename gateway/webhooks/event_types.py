"""Every event the gateway sends, as a contract: the model of its ``data``, a line saying when it
is sent, an example and the version it appeared in. ``GET /webhooks/event-types``, the OpenAPI
document's ``webhooks`` (both ``event_docs``) and the dashboard all read this one table, and the
tests validate every event the suite writes against it, so a payload cannot drift from what is
published.

A new event type is one ``EventSpec`` in ``EVENTS`` (and its name in ``schemas.EventType``, which
a test holds equal to this table). The models (``event_payloads``) forbid fields they do not
name, so a body that grows a field fails the tests until its model says it; the published schemas
leave ``additionalProperties`` open, since within ``v1`` an event's ``data`` only gains fields
and a receiver ignores those it does not know (CHANGELOG.md, version policy).
"""

from functools import cache
from typing import Any, Literal, cast

from pydantic import Field, create_model

from .event_payloads import (
    AutoTopUpDisabled,
    BalanceLow,
    BalanceRecovered,
    Charge,
    ChargeRefunded,
    CheckinCredited,
    CreditExpired,
    DeliveryExhausted,
    DeliveryRecovered,
    DeliverySkipped,
    EndpointAutoDisabled,
    EndpointDisabled,
    EndpointFailing,
    EndpointRecovered,
    EnvironmentFrozen,
    EnvironmentUnfrozen,
    EventBody,
    EventSpec,
    KeyBudgetLow,
    OrderPaid,
    SubscriptionEvent,
    SubscriptionPaid,
    TopupApprovalDenied,
    TopupApprovalExpired,
    TopupApprovalRequired,
    TopupCancelled,
    TopupDelivered,
    TopupFailed,
    VoucherRedeemed,
    WalletMoved,
    WebhookTest,
)
from .level_events import LEVEL_EVENTS
from .payment_events import PAYMENT_EVENTS
from .schemas import EVENT_TYPES

__all__ = ["BY_TYPE", "EVENTS", "body_model", "validate_body"]

SEED = "v1"  # sent since the first release
DATED_2026_11_25 = "2026-11-25"
DATED_2026_11_26 = "2026-11-26"
DATED_2026_11_28 = "2026-11-28"


_TXN = {
    "transaction_id": "txn_0mk3x7q2a1b2c3d4e5f6g7h8",
    "platform": "claude",
    "amount_cents": 1000,
    "recipient_email": "user@example.com",
    "metadata": {"order": "1234"},
}
_CHARGE = {
    "id": "ch_0mk3x7q2a1b2c3d4e5f6g7h8",
    "app_id": "app_0mk3x7q2a1b2c3d4e5f6g7h8",
    "amount_cents": 500,
    "description": "Pro plan, one month",
}
_WALLET = {"env": "live", "currency": "USD", "reference": "ord_0mk3x7q2a1b2c3d4e5f6g7h8"}
_ENDPOINT = "we_0mk3x7q2a1b2c3d4e5f6g7h8"
_LAST_ATTEMPT = {
    "delivery_id": "dlv_0mk3x7q2a1b2c3d4e5f6g7h8we_0mk3x7q2a1b2c3d4e5f6g7h8",
    "at": "2026-11-25T12:00:00Z",
    "response_status": 500,
    "error": "HTTP 500",
}
_SUB = {
    "id": "sub_0mk3x7q2a1b2c3d4e5f6g7h8",
    "env": "live",
    "plan_id": "plan_0mk3x7q2a1b2c3d4e5f6g7h8",
    "plan": "Pro",
    "interval": "month",
    "status": "active",
    "current_period_end": "2026-12-25T12:00:00Z",
    "cancel_at_period_end": False,
}

EVENTS: tuple[EventSpec, ...] = (
    EventSpec(
        "topup.delivered",
        TopupDelivered,
        "A send was delivered: the recipient is credited.",
        SEED,
        {**_TXN, "status": "delivered", "mail": "queued"},
    ),
    EventSpec(
        "topup.failed",
        TopupFailed,
        "A send failed and its funds were refunded.",
        SEED,
        {**_TXN, "status": "failed", "failure_reason": "upstream refused the credit"},
    ),
    EventSpec(
        "topup.cancelled",
        TopupCancelled,
        "A pending send was cancelled and its funds were refunded.",
        SEED,
        {**_TXN, "status": "cancelled"},
    ),
    EventSpec(
        "topup.approval_required",
        TopupApprovalRequired,
        "A send above its key's approval line was debited and is held until someone decides.",
        SEED,
        {**_TXN, "status": "pending_approval", "approval_expires_at": "2026-11-26T12:00:00Z"},
    ),
    EventSpec(
        "topup.approval_denied",
        TopupApprovalDenied,
        "A held send was denied and refunded.",
        SEED,
        {**_TXN, "status": "denied"},
    ),
    EventSpec(
        "topup.approval_expired",
        TopupApprovalExpired,
        "A held send was not decided in time and was refunded.",
        SEED,
        {**_TXN, "status": "expired"},
    ),
    EventSpec(
        "voucher.redeemed",
        VoucherRedeemed,
        "The merchant redeemed a voucher it sent; never carries the code.",
        DATED_2026_11_25,
        {
            **_TXN,
            "status": "delivered",
            "redeemed_at": "2026-11-25T12:00:00Z",
            "recipient_balance_cents": 0,
        },
    ),
    EventSpec(
        "balance.low",
        BalanceLow,
        "A debit took the wallet from at or above one of its levels to below it: once a level "
        "until the balance recovers, the lowest where one debit crossed several.",
        SEED,
        {
            "balance_cents": 450,
            "threshold_cents": 500,
            "thresholds_cents": [2000, 500],
            "low_balance_threshold_cents": 2000,
            "currency": "USD",
        },
    ),
    EventSpec(
        "balance.recovered",
        BalanceRecovered,
        "A credit took the wallet back a margin above the highest level crossed since it was "
        "last there (10% of it, at least a cent, at most $10.00): once after each run of "
        "balance.low, and a merchant's levels re-arm at most six times an hour.",
        DATED_2026_11_28,
        {"balance_cents": 2500, "threshold_cents": 2000, "currency": "USD"},
    ),
    EventSpec(
        "key.budget_low",
        KeyBudgetLow,
        "A key's spend crossed its soft_limit_percent of a limit, once per window.",
        SEED,
        {
            "key_id": "key_0mk3x7q2a1b2c3d4e5f6g7h8",
            "soft_limit_percent": 80,
            "windows": [
                {
                    "interval": "daily",
                    "limit_cents": 10000,
                    "spent_cents": 8200,
                    "crossed": True,
                    "resets_at": "2026-11-26T00:00:00Z",
                }
            ],
        },
    ),
    *LEVEL_EVENTS,
    EventSpec(
        "wallet.credited",
        WalletMoved,
        "The merchant's wallet was credited: a checkout paid, a code redeemed, an adjustment.",
        SEED,
        {
            **_WALLET,
            "amount_cents": 2500,
            "balance_cents": 3000,
            "source": "checkout",
            "description": None,
        },
    ),
    EventSpec(
        "wallet.debited",
        WalletMoved,
        "The merchant's wallet was debited outside a send: an adjustment, a refunded charge, an "
        "operator's refund of a paid order.",
        SEED,
        {
            **_WALLET,
            "amount_cents": -500,
            "balance_cents": 2500,
            "source": "adjustment",
            "description": "correction",
        },
    ),
    EventSpec(
        "credit.expired",
        CreditExpired,
        "A credit grant reached its expiry with credit left: that remainder left the wallet.",
        DATED_2026_11_28,
        {
            "env": "live",
            "grant_id": "cg_0mk3x7q2a1b2c3d4e5f6g7h8_12",
            "category": "promotional",
            "amount_cents": 1000,
            "expired_cents": 400,
            "balance_cents": 2500,
            "currency": "USD",
            "expires_at": "2026-12-01T00:00:00Z",
        },
    ),
    EventSpec(
        "order.paid",
        OrderPaid,
        "A checkout or invoice order was paid, through any channel: once per order, in the "
        "transaction that credits the wallet and numbers its receipt.",
        DATED_2026_11_25,
        {
            "order_id": "ord_0mk3x7q2a1b2c3d4e5f6g7h8",
            "env": "live",
            "kind": "checkout",
            "provider": "myfatoorah",
            "channel": "myfatoorah",
            "pack_id": "pack_starter",
            "credits": 5000,
            "credit_cents": 500,
            "amount_cents": 500,
            "currency": "USD",
            "charge_minor": 1535,
            "charge_currency": "KWD",
            "charge_rate": "0.307",
            "receipt_number": "LIVE-000042",
            "paid_at": "2026-11-25T12:00:00Z",
        },
    ),
    EventSpec(
        "checkin.credited",
        CheckinCredited,
        "A daily check-in credited the wallet; once per merchant, environment and UTC day.",
        DATED_2026_11_25,
        {
            "id": "chk_0mk3x7q2a1b2c3d4e5f6g7h8",
            "amount_cents": 25,
            "balance_cents": 1025,
            "currency": "USD",
            "checked_in_on": "2026-11-25",
        },
    ),
    EventSpec(
        "charge.succeeded",
        Charge,
        "An app charged a merchant that connected it; sent to the payer and the app's owner.",
        DATED_2026_11_25,
        {**_CHARGE, "status": "succeeded"},
    ),
    EventSpec(
        "charge.refunded",
        ChargeRefunded,
        "An app's charge was refunded; sent to the payer and the app's owner.",
        DATED_2026_11_25,
        {**_CHARGE, "status": "refunded", "refunded_cents": 500},
    ),
    *PAYMENT_EVENTS,
    EventSpec(
        "subscription.created",
        SubscriptionPaid,
        "A subscription's first period was paid: its credits_included are in the wallet.",
        DATED_2026_11_25,
        {**_SUB, "invoice_id": "in_0mk3x7q2a1b2c3d4", "credit_cents": 10000},
    ),
    EventSpec(
        "subscription.renewed",
        SubscriptionPaid,
        "A later period of a subscription was paid and credited, once per paid invoice.",
        DATED_2026_11_25,
        {**_SUB, "invoice_id": "in_0mk3x7q2a1b2c3d5", "credit_cents": 10000},
    ),
    EventSpec(
        "subscription.past_due",
        SubscriptionEvent,
        "A renewal's payment failed: nothing is credited until it is paid.",
        DATED_2026_11_25,
        {**_SUB, "status": "past_due"},
    ),
    EventSpec(
        "subscription.canceled",
        SubscriptionEvent,
        "A subscription ended: no further period is credited.",
        DATED_2026_11_25,
        {**_SUB, "status": "canceled", "cancel_at_period_end": True},
    ),
    EventSpec(
        "endpoint.failing",
        EndpointFailing,
        "One of the merchant's endpoints failed after succeeding (once per run of failures); "
        "sent to its other endpoints.",
        DATED_2026_11_25,
        {
            "endpoint_id": _ENDPOINT,
            "url": "https://example.com/hooks",
            "failing_since": "2026-11-25T12:00:00Z",
            "disables_at": "2026-11-30T12:00:00Z",
            "last_attempt": _LAST_ATTEMPT,
        },
    ),
    EventSpec(
        "endpoint.disabled",
        EndpointAutoDisabled,
        "The gateway disabled one of the merchant's endpoints (it answered 410 Gone, or failed "
        "for the whole window); sent to its other endpoints.",
        DATED_2026_11_25,
        {
            "endpoint_id": _ENDPOINT,
            "url": "https://example.com/hooks",
            "trigger": "failing",
            "reason": "failing since 2026-11-25T12:00:00+00:00 (over 432000s)",
            "failing_since": "2026-11-25T12:00:00Z",
            "disabled_at": "2026-11-30T12:00:01Z",
        },
    ),
    EventSpec(
        "endpoint.recovered",
        EndpointRecovered,
        "One of the merchant's failing endpoints succeeded again; sent to its other endpoints.",
        DATED_2026_11_25,
        {
            "endpoint_id": _ENDPOINT,
            "url": "https://example.com/hooks",
            "failing_since": "2026-11-25T12:00:00Z",
            "recovered_at": "2026-11-25T12:30:00Z",
        },
    ),
    EventSpec(
        "delivery.exhausted",
        DeliveryExhausted,
        "A message was given up at one of the merchant's endpoints after its last retry; sent "
        "to its other endpoints. Never sent about a delivery of an operational event.",
        DATED_2026_11_25,
        {
            "delivery_id": _LAST_ATTEMPT["delivery_id"],
            "event_id": "evt_0mk3x7q2a1b2c3d4e5f6g7h8",
            "event_type": "topup.delivered",
            "endpoint_id": _ENDPOINT,
            "attempts": 3,
            "last_attempt": _LAST_ATTEMPT,
        },
    ),
    EventSpec(
        "delivery.recovered",
        DeliveryRecovered,
        "A message reached one of the merchant's endpoints after failed attempts (two or more "
        "by default); sent once, to its other endpoints. Never sent about a delivery of an "
        "operational event.",
        DATED_2026_11_26,
        {
            "delivery_id": _LAST_ATTEMPT["delivery_id"],
            "event_id": "evt_0mk3x7q2a1b2c3d4e5f6g7h8",
            "event_type": "topup.delivered",
            "endpoint_id": _ENDPOINT,
            "failed_attempts": 2,
            "recovered_at": "2026-11-26T12:00:35Z",
        },
    ),
    EventSpec(
        "delivery.skipped",
        DeliverySkipped,
        "A message was given up at one of the merchant's ordered endpoints, and the next one "
        "sent after it: a gap in that endpoint's order; sent to its other endpoints. Never sent "
        "about a delivery of an operational event.",
        DATED_2026_11_26,
        {
            "delivery_id": _LAST_ATTEMPT["delivery_id"],
            "event_id": "evt_0mk3x7q2a1b2c3d4e5f6g7h8",
            "event_type": "topup.delivered",
            "endpoint_id": _ENDPOINT,
            "attempts": 3,
            "skipped_at": "2026-11-26T12:00:35Z",
        },
    ),
    EventSpec(
        "auto_top_up.disabled",
        AutoTopUpDisabled,
        "A wallet's auto top-up was turned off: its saved payment method was refused three "
        "times in a row. The owners are mailed too; nothing is charged until it is saved again.",
        DATED_2026_11_25,
        {
            "wallet_env": "live",
            "failures": 3,
            "reason": "payment refused: card_declined",
            "disabled_at": "2026-11-26T12:00:00Z",
            "last_run_id": "atu_txn_0mk3x7q2a1b2c3d4e5f6g7h8",
        },
    ),
    EventSpec(
        "environment.frozen",
        EnvironmentFrozen,
        "The kill switch: a person froze this environment of the merchant (POST /freeze). Its "
        "keys, consents and app tokens are refused until it is unfrozen.",
        DATED_2026_11_26,
        {
            "frozen_at": "2026-11-26T08:00:00Z",
            "by": "key ak_live_3xK…",
            "held": "keep",
            "held_cancelled": 0,
        },
    ),
    EventSpec(
        "environment.unfrozen",
        EnvironmentUnfrozen,
        "A person unfroze this environment of the merchant (DELETE /freeze): its credentials "
        "work again, as before the freeze.",
        DATED_2026_11_26,
        {
            "frozen_at": "2026-11-26T08:00:00Z",
            "unfrozen_at": "2026-11-26T08:30:00Z",
            "by": "user owner@example.com",
        },
    ),
    EventSpec(
        "webhook.endpoint.disabled",
        EndpointDisabled,
        "Deprecated: endpoint.disabled says the same and more. Still sent beside it, with this "
        "body, until v2.",
        SEED,
        {
            "endpoint_id": _ENDPOINT,
            "url": "https://example.com/hooks",
            "reason": "410 Gone",
            "failing_since": "2026-11-24T12:00:00Z",
        },
    ),
    EventSpec(
        "webhook.test",
        WebhookTest,
        "Sent by POST /webhooks/endpoints/{id}/test, to that endpoint only.",
        SEED,
        {"endpoint_id": _ENDPOINT, "message": "This is a test event."},
    ),
)
BY_TYPE: dict[str, EventSpec] = {spec.name: spec for spec in EVENTS}
if tuple(BY_TYPE) != EVENT_TYPES:  # an exception, not an assert: ``python -O`` keeps it
    raise RuntimeError("schemas.EventType and event_types.EVENTS must agree, in order")


def _title(type_: str) -> str:
    return "".join(part.capitalize() for part in type_.replace("_", ".").split(".")) + "Event"


@cache
def body_model(type_: str) -> type[EventBody]:
    """The model of a whole body of type ``type_``: the envelope with its ``type`` and ``data``."""
    spec = BY_TYPE[type_]
    model: type[EventBody] = create_model(
        _title(type_),
        __base__=EventBody,
        __doc__=spec.description,
        type=(cast(Any, Literal)[type_], Field(description="The event's type.")),
        data=(spec.data, ...),
    )
    return model


def validate_body(type_: str, body: str | bytes) -> EventBody:
    """``body`` (an event's exact bytes) parsed against its type's contract; ``ValueError``
    (pydantic's ``ValidationError``) if it breaks it, ``KeyError`` if the type is unknown."""
    return body_model(type_).model_validate_json(body, strict=True)
