"""Stripe, through the official package: Checkout Sessions out, signed events in.

The client runs over httpx (``stripe.HTTPXClient``), so tests stand Stripe in with respx and
``AITOPUP_STRIPE_API_BASE`` can point at stripe-mock; what that client reaches below the package's
public API is in ``_stripe``. Checkouts are rare next to sends, so each one builds its client and
closes it rather than holding a pool in the lifespan.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import stripe

from ..codes import Code
from ..outcome import ApiError
from ..settings import Settings
from ._stripe import HTTPXClient

__all__ = ["Session", "SessionRequest", "create_session", "verify_event"]

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class SessionRequest:
    order_id: str
    merchant_id: str
    pack_id: str
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


def _expiry(value: Any) -> datetime | None:
    """The session's ``expires_at`` (Unix seconds), if it is one."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _params(req: SessionRequest) -> dict[str, Any]:
    metadata = {"order_id": req.order_id, "merchant_id": req.merchant_id, "pack_id": req.pack_id}
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
                        "name": f"{req.pack_name} pack",
                        "description": f"{req.credits:,} credits",
                    },
                },
            }
        ],
        "success_url": req.success_url,
        "cancel_url": req.cancel_url,
    }


async def create_session(settings: Settings, req: SessionRequest) -> Session:
    if settings.stripe_secret_key is None:
        raise ApiError(Code.PAYMENTS_NOT_CONFIGURED)
    http = HTTPXClient(timeout=settings.stripe_timeout_seconds)
    client = stripe.StripeClient(
        settings.stripe_secret_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base.rstrip("/")},
        http_client=http,
        max_network_retries=settings.stripe_max_network_retries,
    )
    try:
        session = await client.v1.checkout.sessions.create_async(
            _params(req),  # type: ignore[arg-type]  # stripe's TypedDicts; the dict matches
            {"idempotency_key": f"checkout:{req.order_id}"},
        )
    except stripe.APIConnectionError as exc:
        timed_out = isinstance(exc.__cause__, httpx.TimeoutException)
        log.warning("stripe unreachable for order %s (timeout=%s)", req.order_id, timed_out)
        code = Code.PAYMENT_PROVIDER_TIMEOUT if timed_out else Code.PAYMENT_PROVIDER_ERROR
        raise ApiError(code) from None
    except stripe.StripeError as exc:
        log.warning(
            "stripe refused checkout for order %s: status %s code %s",
            req.order_id,
            exc.http_status,
            exc.code,
        )
        raise ApiError(
            Code.PAYMENT_PROVIDER_ERROR,
            data={"provider_status": exc.http_status, "provider_code": exc.code},
        ) from None
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]  # unannotated in stripe
    if not session.id or not session.url:
        log.error("stripe returned a session without id or url for order %s", req.order_id)
        raise ApiError(Code.PAYMENT_PROVIDER_ERROR)
    return Session(str(session.id), str(session.url), _expiry(getattr(session, "expires_at", None)))


def verify_event(settings: Settings, payload: bytes, header: str | None) -> None:
    """Stripe's scheme (``t=…,v1=…``, any of several v1 may match) within five minutes either
    way; raises ``ApiError`` and changes nothing otherwise."""
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
