"""One exchange with Stripe through the official package, and how its objects are read: what
each Stripe module of the channels shares (``stripe_orders``, ``stripe_plans``, and the agents'
``gateway.protocols.mpp.stripe_shared``).

The client runs over httpx (``stripe.HTTPXClient``), so tests stand Stripe in with respx and
``AITOPUP_STRIPE_API_BASE`` can point at stripe-mock; what that client reaches below the
package's public API is in ``stripe_client``. Each exchange builds its client and closes it
rather than holding a pool in the lifespan: exchanges are rare next to sends. The package is
imported at the first exchange, not with this module: it is a quarter of a second of every
process's start (the CLI's included), and most never speak to Stripe.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from ....values.code_names import Code
from ....values.loading import loaded
from ....values.outcome import ApiError
from ....values.settings import Settings

if TYPE_CHECKING:
    import stripe

__all__ = ["SharedPayment", "as_int", "as_str", "exchange", "expiry", "field", "shared"]

log = logging.getLogger(__name__)


def expiry(value: Any) -> datetime | None:
    """The session's ``expires_at`` (Unix seconds), if it is one."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@asynccontextmanager
async def exchange(settings: Settings, what: str) -> AsyncIterator["stripe.StripeClient"]:
    """A client for one exchange with Stripe, closed after it; Stripe's refusals and silences
    as ``ApiError`` (``what`` names the exchange in the log, never a secret)."""
    await loaded("stripe")  # the first exchange of a process imports it off the loop
    import stripe

    from .stripe_client import HTTPXClient

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
        yield client
    except stripe.APIConnectionError as exc:
        timed_out = isinstance(exc.__cause__, httpx.TimeoutException)
        log.warning("stripe unreachable for %s (timeout=%s)", what, timed_out)
        code = Code.PAYMENT_PROVIDER_TIMEOUT if timed_out else Code.PAYMENT_PROVIDER_ERROR
        raise ApiError(code) from None
    except stripe.StripeError as exc:
        log.warning("stripe refused %s: status %s code %s", what, exc.http_status, exc.code)
        raise ApiError(
            Code.PAYMENT_PROVIDER_ERROR,
            data={"provider_status": exc.http_status, "provider_code": exc.code},
        ) from None
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]  # unannotated in stripe


def field(obj: Any, name: str) -> Any:
    """A field of a stripe object (which is not a dict), or None when it is absent."""
    return getattr(obj, name, None)


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class SharedPayment:
    """A PaymentIntent confirmed with a Shared Payment Token: its id, status and amount."""

    id: str
    status: str
    amount_cents: int | None
    currency: str | None


def shared(intent: Any) -> SharedPayment:
    return SharedPayment(
        str(field(intent, "id")),
        str(field(intent, "status") or ""),
        as_int(field(intent, "amount_received")),
        as_str(field(intent, "currency")),
    )
