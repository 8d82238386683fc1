"""Creem's API, as it documents it (docs.creem.io).

Out: ``POST /v1/checkouts {product_id, request_id, units, success_url, metadata}`` answers a
checkout with its ``checkout_url``; ``GET /v1/checkouts?checkout_id=`` tells its state and
``GET /v1/products?product_id=`` a product's price;
``POST /v1/customers/billing {customer_id}`` answers a customer's ``customer_portal_link``;
``GET /v1/transactions/search?customer_id=`` a customer's transactions, a page at a time, and
``GET /v1/transactions?transaction_id=`` one, with its ``status`` (``paid``, ``refunded``,
``partialRefund``...); ``POST /v1/refunds {transaction_id}`` refunds a transaction in full (all
that is left of it: Creem takes no amount and no idempotency key) and answers the refund's
``status``: ``pending`` or ``requiresAction`` while the payment's processor confirms it,
``succeeded``, ``failed`` or ``canceled``.
Every call carries ``x-api-key``. Test root ``https://test-api.creem.io``, live
``https://api.creem.io`` (a test key works only on the test root). Prices are integer cents.

Creem sells products, not amounts, so a checkout names a product (``Catalogue``): a pack is
paid through its own product when the channel's configuration names one and the order costs the
pack's full price; any other amount (a custom amount, a pack after a coupon or a tier) through
the amount product, a product priced ``unit_cents`` bought in ``amount / unit_cents`` units. Each
product's price is asked of Creem before it is used, and an amount no product charges exactly is
not offered, rather than charged otherwise.

In: a webhook ``{id, eventType, created_at (ms), object}`` with ``creem-signature``: the hex
HMAC-SHA256 of the raw body under the webhook secret, checked in constant time before the body
is parsed. ``created_at`` is inside what is signed, so a stale event is known as one.
``checkout.completed`` carries the checkout with its ``order`` (whose ``transaction`` names the
money moved, what a refund names); ``subscription.paid`` the subscription with its
``last_transaction``.
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ....values import outside_json
from .exchange import NOT_THE_PROVIDER, REQUEST_REFUSED, ChannelApi, ChannelError, iso_date
from .money import Money

__all__ = [
    "LIVE_API_BASE",
    "MAX_EVENT_BYTES",
    "REFUND_STATES",
    "SIGNATURE_HEADER",
    "STALE_AFTER",
    "TEST_API_BASE",
    "TRANSACTION_PAGES",
    "Catalogue",
    "Checkout",
    "Creem",
    "Event",
    "Refund",
    "Refused",
    "State",
    "Subscription",
    "Transaction",
    "checkout_of",
    "read_event",
    "refund_of",
    "sign",
    "signature_valid",
    "subscription_of",
    "transaction_of",
]

TEST_API_BASE = "https://test-api.creem.io"
LIVE_API_BASE = "https://api.creem.io"
SIGNATURE_HEADER = "creem-signature"
MAX_EVENT_BYTES = 64 * 1024
# Creem retries after 30 s, 1 min, 5 min and 1 h; three hours cover the ladder. A replay of an
# older event is refused here, and a lost one is found by reconciliation.
STALE_AFTER = timedelta(hours=3)
FUTURE_SKEW = timedelta(minutes=5)
_MAX_FIELD = 255
# Reconciliation reads at most this many pages of a customer's transactions (50 a page): a
# subscriber's periods, years of them, without letting one answer run on.
TRANSACTION_PAGES = 5
_PAGE_SIZE = 50

State = Literal["paid", "open", "expired"]
# A refund's states as Creem documents them: the first two not yet final.
REFUND_STATES = ("pending", "requiresAction", "succeeded", "failed", "canceled")


class Refused(Exception):
    """An event not taken: ``reason`` is ``too_large``, ``signature``, ``malformed`` or
    ``stale``; nothing was acted on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- products ---


@dataclass(frozen=True, slots=True)
class Catalogue:
    """How orders map to Creem products: ``packs`` (pack id → the product sold as that pack),
    and the amount product (``amount_product``, priced ``unit_cents``, bought in units)."""

    packs: dict[str, str] = field(default_factory=dict)
    amount_product: str | None = None
    unit_cents: int = 100

    def candidates(self, pack_id: str | None, amount_cents: int) -> list[tuple[str, int]]:
        """The products, and units of each, that may charge ``amount_cents``, in the order to
        try them: the pack's own product, then the amount product where the amount is a whole
        number of its units. Whether a product's price is what the order costs is Creem's to
        say (``Creem.price``): a pack after a coupon is charged through the amount product."""
        found: list[tuple[str, int]] = []
        product = self.packs.get(pack_id) if pack_id is not None else None
        if product is not None:
            found.append((product, 1))
        if self.amount_product is not None and self.unit_cents > 0:
            units, rest = divmod(amount_cents, self.unit_cents)
            if rest == 0 and units >= 1:
                found.append((self.amount_product, units))
        return found


# --- the signature and the event ---


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the hex HMAC-SHA256 of ``body`` under ``secret`` (constant time)."""
    if not header or len(header) > 128:
        return False
    given = header.strip().lower().encode("ascii", "replace")
    return hmac.compare_digest(sign(secret, body).encode("ascii"), given)


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    created: datetime
    object: dict[str, Any]


def read_event(body: bytes, header: str | None, secret: str, now: datetime) -> Event:
    """The event, verified: its size, then the signature over the raw bytes, and only then is
    the body parsed; its ``created_at`` within ``STALE_AFTER`` of ``now``."""
    if len(body) > MAX_EVENT_BYTES:
        raise Refused("too_large")
    if not signature_valid(secret, body, header):
        raise Refused("signature")
    try:
        parsed = outside_json.loads(body)
    except ValueError:
        raise Refused("malformed") from None
    if not isinstance(parsed, dict):
        raise Refused("malformed")
    event_id, type_, stamp, obj = (
        parsed.get(k) for k in ("id", "eventType", "created_at", "object")
    )
    if (
        not isinstance(event_id, str)
        or not 0 < len(event_id) <= _MAX_FIELD
        or not isinstance(type_, str)
        or not 0 < len(type_) <= 100
        or not isinstance(obj, dict)
        or isinstance(stamp, bool)
        or not isinstance(stamp, int)
        or not 0 < stamp < 1 << 50
    ):
        raise Refused("malformed")
    created = datetime.fromtimestamp(stamp / 1000, UTC)
    if created < now - STALE_AFTER or created > now + FUTURE_SKEW:
        raise Refused("stale")
    return Event(event_id, type_, created, obj)


# --- subscriptions ---


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription as a ``subscription.*`` event carries it. ``transaction_id`` names the
    period last paid (``last_transaction``), the key of its one credit; ``paid`` its amount."""

    id: str
    status: str
    transaction_id: str | None
    paid: Money | None
    period_end: datetime | None
    metadata: dict[str, Any]
    customer_id: str | None = None


def _when(value: Any) -> datetime | None:
    """A time as Creem writes one: ISO 8601 text, or a Unix time (seconds, or milliseconds)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 50:
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, UTC)
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def subscription_of(obj: Any) -> Subscription | None:
    if not isinstance(obj, dict) or obj.get("object") != "subscription" or _id_of(obj) is None:
        return None
    last = obj.get("last_transaction") if isinstance(obj.get("last_transaction"), dict) else {}
    assert isinstance(last, dict)
    transaction_id = _id_of(last) if last else None
    if transaction_id is None and isinstance(obj.get("last_transaction_id"), str):
        transaction_id = str(obj["last_transaction_id"])[:_MAX_FIELD]
    amount, currency = _cents(last.get("amount")), last.get("currency")
    paid = (
        Money(amount, currency.upper()[:3])
        if amount is not None and isinstance(currency, str) and last.get("status") == "paid"
        else None
    )
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    status = obj.get("status")
    return Subscription(
        id=str(_id_of(obj)),
        status=status[:40] if isinstance(status, str) else "unknown",
        transaction_id=transaction_id,
        paid=paid,
        period_end=iso_date(last.get("period_end")) or iso_date(obj.get("current_period_end_date")),
        metadata=metadata,
        customer_id=_id_of(obj.get("customer")),
    )


@dataclass(frozen=True, slots=True)
class Transaction:
    """A transaction as ``GET /v1/transactions`` answers it (or ``/search`` lists it); ``paid``
    its amount when its status is ``paid``; ``status`` Creem's word for it (``refunded`` once
    given back in full)."""

    id: str
    subscription_id: str | None
    paid: Money | None
    period_end: datetime | None
    status: str = "unknown"


def transaction_of(obj: Any) -> Transaction | None:
    if not isinstance(obj, dict) or _id_of(obj) is None:
        return None
    amount, currency = _cents(obj.get("amount")), obj.get("currency")
    paid = (
        Money(amount, currency.upper()[:3])
        if amount is not None and isinstance(currency, str) and obj.get("status") == "paid"
        else None
    )
    status = obj.get("status")
    return Transaction(
        id=str(_id_of(obj)),
        subscription_id=_id_of(obj.get("subscription")),
        paid=paid,
        period_end=_when(obj.get("period_end")),
        status=status[:40] if isinstance(status, str) else "unknown",
    )


# --- refunds ---


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund as ``POST /v1/refunds`` answers it: its id (the transaction's when Creem names
    none) and its ``status``, one of ``REFUND_STATES``."""

    id: str
    status: str


def refund_of(obj: Any, transaction_id: str) -> Refund:
    status = obj.get("status") if isinstance(obj, dict) else None
    if status not in REFUND_STATES:
        raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="no refund status")
    assert isinstance(status, str)
    return Refund(id=_id_of(obj) or transaction_id, status=status)


# --- checkouts ---


@dataclass(frozen=True, slots=True)
class Checkout:
    """A checkout as Creem states it. ``state``: ``paid`` once completed with a paid order,
    ``expired``, else ``open``. ``paid``: the order's charge before tax (``sub_total``, else
    its ``amount``), in integer cents. ``transaction_id``: the order's ``transaction``, the money
    moved, what a refund names."""

    id: str
    state: State
    status: str
    request_id: str | None
    url: str | None
    product_id: str | None
    units: int | None
    order_id: str | None
    paid: Money | None
    metadata: dict[str, Any]
    subscription_id: str | None = None
    customer_id: str | None = None
    transaction_id: str | None = None


def _id_of(value: Any) -> str | None:
    """An id, whether Creem expands the object or names it."""
    if isinstance(value, dict):
        value = value.get("id")
    return value[:_MAX_FIELD] if isinstance(value, str) else None


def _cents(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 53:
        return None
    return value


def checkout_of(obj: Any) -> Checkout:
    if not isinstance(obj, dict) or _id_of(obj) is None:
        raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="no checkout")
    status = obj.get("status") if isinstance(obj.get("status"), str) else "unknown"
    assert isinstance(status, str)
    order = obj.get("order") if isinstance(obj.get("order"), dict) else {}
    assert isinstance(order, dict)
    order_paid = order.get("status") == "paid"
    state: State = (
        "paid"
        if status == "completed" and order_paid
        else "expired"
        if status == "expired"
        else "open"
    )
    amount = _cents(order.get("sub_total"))
    if amount is None:
        amount = _cents(order.get("amount"))
    currency = order.get("currency")
    paid = (
        Money(amount, currency.upper()[:3])
        if amount is not None and isinstance(currency, str) and order_paid
        else None
    )
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    url = obj.get("checkout_url")
    request_id = obj.get("request_id")
    units = _cents(obj.get("units"))
    return Checkout(
        id=str(_id_of(obj)),
        state=state,
        status=status[:40],
        request_id=request_id[:_MAX_FIELD] if isinstance(request_id, str) else None,
        url=url if isinstance(url, str) and url.startswith("http") else None,
        product_id=_id_of(obj.get("product")),
        units=units,
        order_id=_id_of(order) if order else None,
        paid=paid,
        metadata=metadata,
        subscription_id=_id_of(obj.get("subscription")),
        customer_id=_id_of(obj.get("customer")),
        transaction_id=_id_of(order.get("transaction")) if order else None,
    )


@dataclass(frozen=True, slots=True)
class Creem(ChannelApi):
    """Creem's API for one account and mode (``key``: its API key), over a given client."""

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        status, answer = await self.exchange(
            method, path, headers={"x-api-key": self.key}, body=body, params=params
        )
        if status >= 300:
            message = answer.get("message") if isinstance(answer, dict) else None
            raise ChannelError(
                REQUEST_REFUSED,
                transient=False,
                status=status,
                detail=str(message) if message is not None else "",
            )
        return answer

    async def create_checkout(
        self,
        *,
        product_id: str,
        units: int,
        request_id: str,
        success_url: str,
        metadata: dict[str, str],
    ) -> Checkout:
        made = checkout_of(
            await self._call(
                "POST",
                "/v1/checkouts",
                body={
                    "product_id": product_id,
                    "units": units,
                    "request_id": request_id,
                    "success_url": success_url,
                    "metadata": metadata,
                },
            )
        )
        if made.url is None:
            raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="no checkout_url")
        return made

    async def price(self, product_id: str) -> Money | None:
        """What one unit of the product costs (``GET /v1/products?product_id=``); None when
        Creem states no price in cents and a currency."""
        product = await self._call("GET", "/v1/products", params={"product_id": product_id})
        amount = _cents(product.get("price")) if isinstance(product, dict) else None
        currency = product.get("currency") if isinstance(product, dict) else None
        if amount is None or not isinstance(currency, str):
            return None
        return Money(amount, currency.upper()[:3])

    async def portal(self, customer_id: str) -> str:
        """A customer's portal link (``POST /v1/customers/billing``)."""
        answer = await self._call(
            "POST", "/v1/customers/billing", body={"customer_id": customer_id}
        )
        link = answer.get("customer_portal_link") if isinstance(answer, dict) else None
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="no portal link")
        return link

    async def transactions(self, customer_id: str, subscription_id: str) -> list[Transaction]:
        """The customer's transactions of one subscription (``GET /v1/transactions/search``),
        at most ``TRANSACTION_PAGES`` pages of them."""
        found: list[Transaction] = []
        for page in range(1, TRANSACTION_PAGES + 1):
            answer = await self._call(
                "GET",
                "/v1/transactions/search",
                params={
                    "customer_id": customer_id,
                    "page_number": str(page),
                    "page_size": str(_PAGE_SIZE),
                },
            )
            items = answer.get("items") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="no items")
            for item in items[:_PAGE_SIZE]:
                transaction = transaction_of(item)
                if transaction is not None and transaction.subscription_id == subscription_id:
                    found.append(transaction)
            pagination = answer.get("pagination")
            following = pagination.get("next_page") if isinstance(pagination, dict) else None
            if not isinstance(following, int) or isinstance(following, bool) or following <= page:
                break
        return found

    async def checkout(self, checkout_id: str) -> Checkout:
        return checkout_of(
            await self._call("GET", "/v1/checkouts", params={"checkout_id": checkout_id})
        )

    async def transaction(self, transaction_id: str) -> Transaction:
        """One transaction (``GET /v1/transactions?transaction_id=``)."""
        found = transaction_of(
            await self._call("GET", "/v1/transactions", params={"transaction_id": transaction_id})
        )
        if found is None or found.id != transaction_id:
            raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="no transaction")
        return found

    async def refund(self, transaction_id: str) -> Refund:
        """A full refund of the transaction (``POST /v1/refunds {transaction_id}``): all that is
        left of it, Creem's to work out; no amount is sent, and no key makes a second ask the
        same refund (``CreemProvider.refund`` looks the transaction up first)."""
        answer = await self._call("POST", "/v1/refunds", body={"transaction_id": transaction_id})
        return refund_of(answer, transaction_id)
