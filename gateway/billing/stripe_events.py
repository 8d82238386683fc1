"""Stripe's webhook: verified events, deduplicated on their id, turned into order completions
and subscriptions' paid periods (``subscription_stripe.on_stripe_event``)."""

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.compose import upsert
from ..store.db import Database
from ..store.models import (
    StripeEvent,
    table_of,
)
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import channels, payments, subscription_stripe
from .orders import (
    EXPIRED_REASON,
    Paid,
    Settlement,
    complete_order,
    fail_order,
    hold_open,
    note_provider,
)
from .providers.stripe_checkout import STRIPE, StripeCredentials, stripe_settings
from .schemas import StripeAck

__all__ = ["handle_stripe_event"]

log = logging.getLogger(__name__)

_S = table_of(StripeEvent)


def _parse_event(payload: bytes) -> tuple[str, str, dict[str, Any], int | None]:
    """The event's id, type, object and when Stripe made it (Unix seconds, if it says)."""
    try:
        event = json.loads(payload)
        event_id, type_, obj = event["id"], event["type"], event["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(Code.STRIPE_EVENT_MALFORMED) from None
    if not isinstance(event_id, str) or not isinstance(type_, str) or not isinstance(obj, dict):
        raise ApiError(Code.STRIPE_EVENT_MALFORMED)
    if not 0 < len(event_id) <= 255:
        raise ApiError(Code.STRIPE_EVENT_MALFORMED)
    created = event.get("created")
    stamp = created if isinstance(created, int) and not isinstance(created, bool) else None
    return event_id, type_, obj, stamp if stamp is not None and 0 < stamp < 1 << 40 else None


def _order_of(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    from_metadata = metadata.get("order_id") if isinstance(metadata, dict) else None
    reference = obj.get("client_reference_id")
    found = from_metadata or reference
    return found if isinstance(found, str) else None


def _paid(obj: dict[str, Any]) -> Paid:
    amount = obj.get("amount_total")
    currency = obj.get("currency")
    return Paid(
        provider="stripe",
        session_id=obj.get("id") if isinstance(obj.get("id"), str) else None,
        amount_cents=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        currency=currency if isinstance(currency, str) else None,
    )


_SUCCEEDED = "checkout.session.async_payment_succeeded"
_COMPLETED = "checkout.session.completed"
# Event type: (the order's status, why).
_FAILED = {
    "checkout.session.async_payment_failed": ("failed", "payment failed"),
    "checkout.session.expired": ("expired", EXPIRED_REASON),
}


def _invoice_paid(obj: dict[str, Any]) -> Paid:
    """An invoice order's payment: the invoice is its session, ``amount_paid`` its amount."""
    amount = obj.get("amount_paid")
    currency = obj.get("currency")
    return Paid(
        provider="stripe",
        session_id=obj.get("id") if isinstance(obj.get("id"), str) else None,
        amount_cents=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        currency=currency if isinstance(currency, str) else None,
    )


_INVOICE_PAID = "invoice.paid"
_INVOICE_FAILED = {
    "invoice.voided": ("failed", "invoice voided"),
    "invoice.marked_uncollectible": ("failed", "invoice uncollectible"),
}


async def _dispatch(
    conn: AsyncConnection,
    db: Database,
    type_: str,
    obj: dict[str, Any],
    created: int | None,
    now: datetime,
) -> Settlement:
    concerning = await subscription_stripe.on_stripe_event(conn, db, type_, obj, created, now)
    if concerning is not None:
        return concerning
    order_id = _order_of(obj)
    failing = {**_FAILED, **_INVOICE_FAILED}
    if type_ not in (_COMPLETED, _SUCCEEDED, _INVOICE_PAID, *failing):
        return Settlement("ignored")
    if order_id is None:
        log.warning("stripe %s without an order id", type_)
        return Settlement("unknown_order")
    if type_ in failing:
        status, reason = failing[type_]
        await note_provider(conn, order_id, status, now)
        return await fail_order(conn, order_id, reason, now, provider="stripe", status=status)
    paid = _invoice_paid(obj) if type_ == _INVOICE_PAID else _paid(obj)
    if type_ == _COMPLETED and obj.get("payment_status") not in ("paid", "no_payment_required"):
        # Delayed methods (bank debits) finish with async_payment_succeeded later; the session
        # is complete, so the order waits for that rather than expiring.
        await hold_open(conn, order_id, paid.session_id)
        await note_provider(conn, order_id, "unpaid", now)
        return Settlement("awaiting_payment")
    intent = obj.get("payment_intent")
    payment_id = intent if isinstance(intent, str) else None
    await note_provider(conn, order_id, "paid", now, payment_id=payment_id)
    return await complete_order(conn, db, order_id, paid, now)


async def handle_stripe_event(
    db: Database, settings: Settings, payload: bytes, signature: str | None
) -> Outcome:
    """Verify, then record the event id and act on it in one transaction: a duplicate id
    finds the row and does nothing; a failure rolls both back so Stripe's retry can succeed.
    The signing secret is the live Stripe channel's (``billing.channels``: the operator's row,
    else ``AITOPUP_STRIPE_WEBHOOK_SECRET``)."""
    live = await channels.live_credentials(db, settings, channels.known(STRIPE))
    if isinstance(live, StripeCredentials):
        settings = stripe_settings(settings, live)
    payments.verify_event(settings, payload, signature)
    event_id, type_, obj, created = _parse_event(payload)
    now = utcnow()
    try:
        async with db.transaction() as conn:
            recorded = (
                await conn.execute(
                    upsert(_S)
                    .values(
                        id=event_id,
                        type=type_[:100],
                        order_id=(_order_of(obj) or "")[:40] or None,
                        outcome="processing",
                        received_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=[_S.c.id])
                    .returning(_S.c.id)
                )
            ).first()
            if recorded is None:
                settled = Settlement("duplicate")
            else:
                settled = await _dispatch(conn, db, type_, obj, created, now)
                await conn.execute(
                    update(_S).where(_S.c.id == event_id).values(outcome=settled.result)
                )
    except ApiError:
        raise
    except Exception:
        log.exception("stripe event %s (%s) not processed; Stripe will retry", event_id, type_)
        raise ApiError(Code.STRIPE_EVENT_NOT_PROCESSED) from None
    ack = StripeAck(event_id=event_id, outcome=settled.result)
    return Outcome(Code.SUCCESS, ack.model_dump(), deliveries=settled.deliveries)
