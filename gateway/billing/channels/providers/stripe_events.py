"""Stripe's events as the gateway's notices: what ``StripeProvider.parse`` answers.

A Checkout Session's events settle its order (``checkout.session.completed`` with the payment
made, ``async_payment_succeeded``; one completed with a delayed payment on its way holds the
order open; ``async_payment_failed`` and ``expired`` fail it), as do an invoice order's
(``invoice.paid``; ``voided`` and ``marked_uncollectible`` fail it). A subscription's events
(a session in subscription mode, an invoice of a subscription, ``customer.subscription.*``)
are ``PeriodNotice``s: Stripe's states in the product's words, its invoices credited once per
invoice id. Every other event is ``ignored``: recorded, acknowledged, acted on by nothing.
"""

from datetime import UTC, datetime
from typing import Any

from ....values import outside_json
from . import stripe_plans
from .errors import NoticeMalformed
from .messages import Notice, NoticeState, PeriodNotice

__all__ = ["PERIOD_REASONS", "STATES", "notice_of"]

# The invoices that pay a period (its ``billing_reason``: a first one, a renewal; None where
# Stripe did not say); a proration is not one.
PERIOD_REASONS = frozenset({"subscription_create", "subscription_cycle", None})
# A subscription's status at Stripe, in the product's words.
STATES: dict[str, Any] = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}

_SUCCEEDED = "checkout.session.async_payment_succeeded"
_COMPLETED = "checkout.session.completed"
_INVOICE_PAID = "invoice.paid"
# Event type: (the order's state, why it failed).
_FAILED: dict[str, tuple[NoticeState, str | None]] = {
    "checkout.session.async_payment_failed": ("failed", None),
    "checkout.session.expired": ("expired", None),
    "invoice.voided": ("failed", "invoice voided"),
    "invoice.marked_uncollectible": ("failed", "invoice uncollectible"),
}


def _parsed(payload: bytes) -> tuple[str, str, dict[str, Any], datetime | None]:
    """The event's id, type, object and when Stripe made it (if it says)."""
    try:
        event = outside_json.loads(payload)
        event_id, type_, obj = event["id"], event["type"], event["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise NoticeMalformed("not an event object") from None
    if not isinstance(event_id, str) or not isinstance(type_, str) or not isinstance(obj, dict):
        raise NoticeMalformed("not an event object")
    created = event.get("created")
    stamp = created if isinstance(created, int) and not isinstance(created, bool) else None
    at = datetime.fromtimestamp(stamp, UTC) if stamp is not None and 0 < stamp < 1 << 40 else None
    return event_id, type_, obj, at


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _order_of(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    from_metadata = metadata.get("order_id") if isinstance(metadata, dict) else None
    return _str(from_metadata or obj.get("client_reference_id"))


def _period_of(type_: str, obj: dict[str, Any]) -> tuple[PeriodNotice | None, dict[str, Any]]:
    """A subscription's event as a ``PeriodNotice`` and the notice's other fields; (None, {})
    for an order's event; (None, {"state": "ignored"}) for a subscription's that says
    nothing."""
    if type_.startswith("checkout.session."):
        if obj.get("mode") != "subscription":
            return None, {}
        metadata = obj.get("metadata")
        our_id = _str(metadata.get("subscription_id")) if isinstance(metadata, dict) else None
        our_id = our_id or _str(obj.get("client_reference_id"))
        if type_ == "checkout.session.expired":
            return PeriodNotice("expired", our_id), {}
        linked = stripe_plans.subscription_fields({"id": obj.get("subscription")})
        return PeriodNotice(
            "linked",
            our_id,
            provider_subscription_id=linked.id if linked is not None else None,
            provider_customer_id=_str(obj.get("customer")),
        ), {}
    if type_.startswith("invoice."):
        found = stripe_plans.invoice_fields(obj)
        if found is None or (found.subscription is None and found.our_id is None):
            return None, {}
        ids: dict[str, Any] = {
            "subscription_id": found.our_id,
            "provider_subscription_id": found.subscription,
            "provider_customer_id": found.customer,
        }
        if type_ in (_INVOICE_PAID, "invoice.payment_succeeded"):
            if found.status not in ("paid", None):
                return PeriodNotice("linked", outcome="not_paid", **ids), {}
            if found.billing_reason not in PERIOD_REASONS:
                return PeriodNotice("linked", outcome="not_a_period", **ids), {}
            paid = PeriodNotice(
                "paid",
                invoice_id=found.id,
                period_end=found.period_end,
                price_id=found.price_id,
                **ids,
            )
            return paid, {"amount_minor": found.amount_paid, "currency": found.currency}
        if type_ == "invoice.payment_failed":
            failed = PeriodNotice(
                "past_due",
                invoice_id=found.id if found.billing_reason in PERIOD_REASONS else None,
                period_start=found.period_start,
                period_end=found.period_end,
                **ids,
            )
            return failed, {"amount_minor": found.amount_due, "currency": found.currency or "usd"}
        return PeriodNotice("linked", outcome="ignored", **ids), {}
    if type_.startswith("customer.subscription."):
        fields = stripe_plans.subscription_fields(obj)
        if fields is None:
            return None, {"state": "ignored"}
        deleted = type_ == "customer.subscription.deleted"
        return PeriodNotice(
            "canceled" if deleted else "active",
            fields.our_id,
            provider_subscription_id=fields.id,
            provider_customer_id=fields.customer,
            status=None if deleted else STATES.get(fields.status or ""),
            cancel_at_period_end=fields.cancel_at_period_end,
            period_end=fields.current_period_end,
            price_id=fields.price_id,
        ), {}
    return None, {}


def notice_of(payload: bytes) -> Notice:
    """A verified event as the gateway's ``Notice`` (``NoticeMalformed`` if it is not one)."""
    event_id, type_, obj, created = _parsed(payload)
    # What the event's row says it concerns: an order's id, or a subscription's checkout's.
    order_id = _order_of(obj)
    period, more = _period_of(type_, obj)
    if period is not None:
        state: NoticeState = "paid" if period.state == "paid" else "ignored"
        return Notice(
            event_id, state, order_id, type_, created=created, subscription=period, **more
        )
    if more or type_ not in (_COMPLETED, _SUCCEEDED, _INVOICE_PAID, *_FAILED):
        return Notice(event_id, "ignored", order_id, type_, created=created)
    session_id = _str(obj.get("id"))
    if type_ in _FAILED:
        state, reason = _FAILED[type_]
        return Notice(event_id, state, order_id, type_, session_id, created=created, reason=reason)
    # An invoice order's invoice is its session, ``amount_paid`` its amount.
    amount = _int(obj.get("amount_paid" if type_ == _INVOICE_PAID else "amount_total"))
    currency = _str(obj.get("currency"))
    if type_ == _COMPLETED and obj.get("payment_status") not in ("paid", "no_payment_required"):
        # Delayed methods (bank debits) finish with async_payment_succeeded later; the session
        # is complete, so the order waits for that rather than expiring.
        return Notice(
            event_id, "pending", order_id, type_, session_id, None, amount, currency, None, created
        )
    payment_id = _str(obj.get("payment_intent"))
    return Notice(
        event_id, "paid", order_id, type_, session_id, payment_id, amount, currency, None, created
    )
