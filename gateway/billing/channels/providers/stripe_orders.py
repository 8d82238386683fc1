"""What Stripe makes for a funding order, through the official package: the Checkout Session
it is paid on (or the invoice sent for it), looked up when no event came; the saved card an auto
top-up's order is charged to with no one present; a refund; and the check of the signed events
that report them. Each exchange is one ``stripe_api.exchange``.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ....values.code_names import Code
from ....values.outcome import ApiError
from ....values.public_base import public_base
from ....values.settings import Settings
from .stripe_api import SharedPayment, as_int, as_str, exchange, expiry, field

if TYPE_CHECKING:
    pass

__all__ = [
    "RETURN_PATH",
    "Invoice",
    "InvoiceRequest",
    "Looked",
    "Session",
    "SessionRequest",
    "SetupDone",
    "SetupSession",
    "State",
    "charge_off_session",
    "create_invoice",
    "create_refund",
    "create_session",
    "create_setup_session",
    "look_up_invoice",
    "look_up_session",
    "look_up_setup",
    "return_url",
    "session_state",
    "verify_event",
]

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300

RETURN_PATH = "/api/public/v1/billing/checkout/return"


def return_url(settings: Settings) -> str:
    """Where Stripe sends the payer after paying: the gateway looks the order up at Stripe
    there (the return is one of reconciliation's moments), then sends the payer on to the
    merchant's ``success_url``."""
    return f"{public_base(settings)}{RETURN_PATH}?session_id={{CHECKOUT_SESSION_ID}}"


@dataclass(frozen=True, slots=True)
class SessionRequest:
    order_id: str
    merchant_id: str
    pack_id: str | None  # None: a custom amount
    pack_name: str
    credits: int
    amount_cents: int
    currency: str
    success_url: str
    cancel_url: str


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    url: str
    # When Stripe stops taking payment on it (24 hours after creation unless asked otherwise).
    expires_at: datetime | None


def _params(req: SessionRequest) -> dict[str, Any]:
    metadata = {"order_id": req.order_id, "merchant_id": req.merchant_id}
    if req.pack_id is not None:
        metadata["pack_id"] = req.pack_id
    name = req.pack_name if req.pack_id is None else f"{req.pack_name} pack"
    return {
        "mode": "payment",
        "client_reference_id": req.order_id,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": req.currency.lower(),
                    "unit_amount": req.amount_cents,
                    "product_data": {
                        "name": name,
                        "description": f"{req.credits:,} credits",
                    },
                },
            }
        ],
        "success_url": req.success_url,
        "cancel_url": req.cancel_url,
    }


async def create_refund(
    settings: Settings, payment_intent: str, amount_cents: int, key: str
) -> tuple[str, str]:
    """Give ``amount_cents`` of ``payment_intent`` back (Stripe's Refunds API): its id and
    status. ``key`` is the idempotency key: the same refund asked again (the package's retries,
    an operator's retry after an answer lost) is the one Stripe made, never a second."""
    async with exchange(settings, f"refund of {payment_intent}") as client:
        refund = await client.v1.refunds.create_async(
            {"payment_intent": payment_intent, "amount": amount_cents},
            {"idempotency_key": key},
        )
    return str(refund.id), str(refund.status or "")


@dataclass(frozen=True, slots=True)
class SetupSession:
    """A Checkout Session in setup mode: its id, its page, and the customer it saves for."""

    id: str
    url: str
    customer: str


async def create_setup_session(
    settings: Settings, *, merchant_id: str, return_url: str, key: str
) -> SetupSession:
    """A customer for the merchant's wallet and a Checkout Session in setup mode for it
    (``mode: setup``), so the card saved can be charged later with no one present; ``key`` the
    idempotency key's stem, so asking again is the same customer and session."""
    async with exchange(settings, f"auto top-up setup of {merchant_id}") as client:
        customer = await client.v1.customers.create_async(
            {"metadata": {"merchant_id": merchant_id}}, {"idempotency_key": f"{key}_customer"}
        )
        params: Any = {
            "mode": "setup",
            "customer": str(customer.id),
            "currency": "usd",
            "payment_method_types": ["card"],
            "success_url": return_url,
            "cancel_url": return_url,
            "metadata": {"merchant_id": merchant_id, "purpose": "auto_top_up"},
        }
        session = await client.v1.checkout.sessions.create_async(
            params, {"idempotency_key": f"{key}_session"}
        )
    return SetupSession(str(session.id), str(session.url), str(customer.id))


@dataclass(frozen=True, slots=True)
class SetupDone:
    """What a completed setup saved: the payment method, its customer, and its card's words."""

    payment_method: str
    customer: str | None
    brand: str | None
    last4: str | None


async def look_up_setup(settings: Settings, session_id: str) -> SetupDone | None:
    """The payment method a setup-mode Checkout Session saved (its SetupIntent's), or ``None``
    while the session is not complete."""
    async with exchange(settings, f"setup session {session_id}") as client:
        session = await client.v1.checkout.sessions.retrieve_async(
            session_id, {"expand": ["setup_intent.payment_method"]}
        )
    intent = field(session, "setup_intent")
    if field(session, "status") != "complete" or intent is None:
        return None
    method = field(intent, "payment_method")
    if method is None:
        return None
    card = field(method, "card")
    return SetupDone(
        str(field(method, "id")),
        as_str(field(session, "customer")),
        as_str(field(card, "brand")) if card is not None else None,
        as_str(field(card, "last4")) if card is not None else None,
    )


async def charge_off_session(
    settings: Settings,
    *,
    customer: str | None,
    payment_method: str,
    amount_cents: int,
    currency: str,
    key: str,
    metadata: dict[str, str],
) -> SharedPayment:
    """Charge a saved payment method with no one present: a PaymentIntent created with
    ``off_session: true`` and ``confirm: true``, ``key`` its idempotency key (the auto top-up's
    run), so a retry after a lost answer is the same PaymentIntent. A decline, or a card that
    asks for its holder (``authentication_required``), is Stripe's 402."""
    async with exchange(settings, f"off-session charge {key}") as client:
        params: Any = {
            "amount": amount_cents,
            "currency": currency,
            "customer": customer,
            "payment_method": payment_method,
            "off_session": True,
            "confirm": True,
            "metadata": metadata,
        }
        if customer is None:
            del params["customer"]
        intent = await client.v1.payment_intents.create_async(params, {"idempotency_key": key})
    return SharedPayment(
        str(intent.id),
        str(intent.status or ""),
        as_int(field(intent, "amount_received")),
        as_str(field(intent, "currency")),
    )


async def create_session(settings: Settings, req: SessionRequest) -> Session:
    async with exchange(settings, f"checkout of order {req.order_id}") as client:
        session = await client.v1.checkout.sessions.create_async(
            _params(req),  # type: ignore[arg-type]  # stripe's TypedDicts; the dict matches
            {"idempotency_key": f"checkout:{req.order_id}"},
        )
    if not session.id or not session.url:
        log.error("stripe returned a session without id or url for order %s", req.order_id)
        raise ApiError(Code.PAYMENT_PROVIDER_ERROR)
    return Session(str(session.id), str(session.url), expiry(getattr(session, "expires_at", None)))


State = Literal["paid", "open", "unpaid", "expired", "failed"]


@dataclass(frozen=True, slots=True)
class Looked:
    """What Stripe says of an order's payment, looked up rather than told by an event.

    ``state``: ``paid`` (money taken: credit the order), ``open`` (can still be paid),
    ``unpaid`` (completed, a delayed payment on its way), ``expired``, ``failed``.
    ``provider_status`` is Stripe's own words for it, kept on the order."""

    state: State
    provider_status: str
    object_id: str
    payment_id: str | None
    amount_cents: int | None
    currency: str | None


def session_state(session: Any, intent: Any) -> State:
    """A Checkout Session and its PaymentIntent (stripe objects; the intent None when the
    session has none yet) as one ``State``."""
    status, payment = field(session, "status"), field(session, "payment_status")
    intent_status = field(intent, "status") if intent is not None else None
    if status == "expired":
        return "expired"
    if status == "complete" and payment in ("paid", "no_payment_required"):
        # A paid session's intent has succeeded; one that says otherwise is not money yet.
        return "paid" if intent is None or intent_status == "succeeded" else "unpaid"
    if status == "complete":
        return "failed" if intent_status in ("canceled", "requires_payment_method") else "unpaid"
    return "open"


async def look_up_session(settings: Settings, session_id: str) -> Looked:
    """The session and its PaymentIntent, retrieved (the intent expanded into the session)."""
    async with exchange(settings, f"lookup of session {session_id}") as client:
        session = await client.v1.checkout.sessions.retrieve_async(
            session_id, {"expand": ["payment_intent"]}
        )
        intent: Any = field(session, "payment_intent")
        if isinstance(intent, str):
            # Not expanded (an older stand-in, or an API change): ask for it by id.
            intent = await client.v1.payment_intents.retrieve_async(intent)
    state = session_state(session, intent)
    words = f"{field(session, 'status')}/{field(session, 'payment_status')}"
    return Looked(
        state,
        words[:40],
        str(session.id),
        as_str(field(intent, "id")) if intent is not None else None,
        as_int(field(session, "amount_total")),
        as_str(field(session, "currency")),
    )


_INVOICE_STATES: dict[str, State] = {
    "paid": "paid",
    "open": "open",
    "draft": "open",
    "void": "failed",
    "uncollectible": "failed",
}


async def look_up_invoice(settings: Settings, invoice_id: str) -> Looked:
    async with exchange(settings, f"lookup of invoice {invoice_id}") as client:
        invoice = await client.v1.invoices.retrieve_async(invoice_id)
    status = as_str(field(invoice, "status")) or "unknown"
    return Looked(
        _INVOICE_STATES.get(status, "open"),
        status[:40],
        str(invoice.id),
        None,
        as_int(field(invoice, "amount_paid")),
        as_str(field(invoice, "currency")),
    )


@dataclass(frozen=True, slots=True)
class InvoiceRequest:
    order_id: str
    merchant_id: str
    email: str
    name: str
    credits: int
    amount_cents: int
    currency: str
    days_until_due: int


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    url: str | None  # Stripe's hosted invoice page


async def create_invoice(settings: Settings, req: InvoiceRequest) -> Invoice:
    """A customer, an invoice sent for payment, its one line, finalised: Stripe e-mails it and
    hosts its page. Each call carries an idempotency key of the order, so the package's retries
    make nothing twice."""
    metadata = {"order_id": req.order_id, "merchant_id": req.merchant_id}
    key = f"invoice:{req.order_id}"
    async with exchange(settings, f"invoice of order {req.order_id}") as client:
        customer = await client.v1.customers.create_async(
            {"email": req.email, "metadata": metadata}, {"idempotency_key": f"{key}:customer"}
        )
        invoice = await client.v1.invoices.create_async(
            {
                "customer": customer.id,
                "collection_method": "send_invoice",
                "days_until_due": req.days_until_due,
                "currency": req.currency.lower(),
                "metadata": metadata,
                "auto_advance": False,
            },
            {"idempotency_key": f"{key}:invoice"},
        )
        assert invoice.id is not None
        await client.v1.invoice_items.create_async(
            {
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": req.amount_cents,
                "currency": req.currency.lower(),
                "description": f"{req.name} ({req.credits:,} credits)",
                "metadata": metadata,
            },
            {"idempotency_key": f"{key}:item"},
        )
        final = await client.v1.invoices.finalize_invoice_async(
            invoice.id, None, {"idempotency_key": f"{key}:finalize"}
        )
    return Invoice(str(final.id), as_str(field(final, "hosted_invoice_url")))


def verify_event(settings: Settings, payload: bytes, header: str | None) -> None:
    """Stripe's scheme (``t=…,v1=…``, any of several v1 may match) within five minutes either
    way; raises ``ApiError`` and changes nothing otherwise."""
    import stripe

    if settings.stripe_webhook_secret is None:
        raise ApiError(Code.STRIPE_WEBHOOK_NOT_CONFIGURED)
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, header, settings.stripe_webhook_secret.get_secret_value(), TOLERANCE_SECONDS
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise ApiError(Code.STRIPE_SIGNATURE_INVALID) from None
    # The package only refuses old timestamps; one from the future is as suspect.
    assert header is not None
    stamps = [p[2:] for p in header.split(",") if p.startswith("t=")]
    if not stamps or int(stamps[0]) > time.time() + TOLERANCE_SECONDS:
        raise ApiError(Code.STRIPE_SIGNATURE_INVALID)
