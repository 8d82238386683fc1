"""Plans and subscriptions at Stripe, through the official package (``stripe_api.exchange``):
a plan's product and prices, a Checkout Session in subscription mode, the billing portal, and
what reconciliation asks of a subscription (its state and its paid invoices).

Every create carries an idempotency key of our own id, so the package's retries make nothing
twice. Stripe's objects are read through ``invoice_fields`` and ``subscription_fields``, which
take both the shapes before and after Stripe moved an invoice's subscription under ``parent``
and a subscription's period onto its items."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ....values.code_names import Code
from ....values.outcome import ApiError
from ....values.settings import Settings
from .stripe_api import exchange, expiry
from .stripe_orders import Session

__all__ = [
    "InvoiceFields",
    "Looked",
    "PlanPrices",
    "SubscriptionFields",
    "SubscriptionSessionRequest",
    "create_portal_session",
    "create_subscription_session",
    "invoice_fields",
    "look_up_subscription",
    "save_plan",
    "subscription_fields",
]

Interval = Literal["month", "year"]


@dataclass(frozen=True, slots=True)
class PlanPrices:
    product_id: str
    monthly_price_id: str
    yearly_price_id: str


def _get(obj: Any, name: str) -> Any:
    """A field of a stripe object or a dict, or None."""
    if isinstance(obj, dict):
        return obj.get(name)
    try:
        return obj[name]
    except (KeyError, TypeError, IndexError):
        return getattr(obj, name, None)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _id_of(value: Any) -> str | None:
    """An id, or the id of an expanded object."""
    return _str(value) or _str(_get(value, "id")) if value is not None else None


def _moment(value: Any) -> datetime | None:
    seconds = _int(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


async def save_plan(
    settings: Settings,
    plan_id: str,
    *,
    name: str,
    description: str,
    price_monthly: int,
    price_yearly: int,
    current: PlanPrices | None,
    monthly_was: int | None,
    yearly_was: int | None,
) -> PlanPrices:
    """The plan's product (made, or its name and description brought up to date) and a price
    per interval: the current one while its amount stands, else a new one, since a Stripe
    price never changes. Keyed by the plan and the amount, so a retry makes nothing twice."""
    metadata = {"plan_id": plan_id}
    product: dict[str, Any] = {"name": name, "metadata": metadata}
    if description:
        product["description"] = description
    async with exchange(settings, f"product of plan {plan_id}") as client:
        if current is None:
            made = await client.v1.products.create_async(
                product,  # type: ignore[arg-type]  # stripe's TypedDicts; the dict matches
                {"idempotency_key": f"plan:{plan_id}:product"},
            )
            product_id = str(made.id)
        else:
            product_id = current.product_id
            await client.v1.products.update_async(
                product_id,
                product,  # type: ignore[arg-type]
            )
        prices: dict[str, str] = {}
        for interval, amount, was, kept in (
            ("month", price_monthly, monthly_was, current and current.monthly_price_id),
            ("year", price_yearly, yearly_was, current and current.yearly_price_id),
        ):
            if kept and was == amount:
                prices[interval] = kept
                continue
            price = await client.v1.prices.create_async(
                {
                    "product": product_id,
                    "currency": "usd",
                    "unit_amount": amount,
                    "recurring": {"interval": interval},
                    "metadata": metadata,
                },
                {"idempotency_key": f"plan:{plan_id}:{interval}:{amount}"},
            )
            prices[interval] = str(price.id)
    return PlanPrices(product_id, prices["month"], prices["year"])


@dataclass(frozen=True, slots=True)
class SubscriptionSessionRequest:
    subscription_id: str
    merchant_id: str
    plan_id: str
    price_id: str
    customer_id: str | None  # the merchant's customer at Stripe, from an earlier subscription
    success_url: str
    cancel_url: str


async def create_subscription_session(
    settings: Settings, req: SubscriptionSessionRequest
) -> Session:
    """A Checkout Session in subscription mode for one price; our subscription's id rides in
    ``client_reference_id`` and in the metadata of the session and of the subscription it
    makes, so every invoice of it names it too."""
    metadata = {
        "subscription_id": req.subscription_id,
        "merchant_id": req.merchant_id,
        "plan_id": req.plan_id,
    }
    params: dict[str, Any] = {
        "mode": "subscription",
        "client_reference_id": req.subscription_id,
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "line_items": [{"price": req.price_id, "quantity": 1}],
        "success_url": req.success_url,
        "cancel_url": req.cancel_url,
    }
    if req.customer_id is not None:
        params["customer"] = req.customer_id
    async with exchange(settings, f"subscription checkout {req.subscription_id}") as client:
        session = await client.v1.checkout.sessions.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"subscribe:{req.subscription_id}"},
        )
    if not session.id or not session.url:
        raise ApiError(Code.PAYMENT_PROVIDER_ERROR)
    return Session(str(session.id), str(session.url), expiry(_get(session, "expires_at")))


async def expire_session(settings: Settings, session_id: str) -> None:
    """Stripe's Checkout Session ended unpaid: it can no longer be paid. Stripe refuses one
    that is not open (paid meanwhile), which is the caller's refusal too."""
    async with exchange(settings, f"expiry of checkout {session_id}") as client:
        await client.v1.checkout.sessions.expire_async(session_id)


async def create_portal_session(settings: Settings, customer_id: str, return_url: str) -> str:
    """A billing portal session of the customer: its URL."""
    async with exchange(settings, "billing portal session") as client:
        portal = await client.v1.billing_portal.sessions.create_async(
            {"customer": customer_id, "return_url": return_url}
        )
    url = _str(_get(portal, "url"))
    if url is None:
        raise ApiError(Code.PAYMENT_PROVIDER_ERROR)
    return url


@dataclass(frozen=True, slots=True)
class InvoiceFields:
    """What an invoice says that a subscription's credit needs."""

    id: str
    status: str | None
    subscription: str | None  # Stripe's subscription id
    our_id: str | None  # ours, from the subscription's metadata
    customer: str | None
    billing_reason: str | None
    amount_paid: int | None
    currency: str | None
    price_id: str | None
    period_end: datetime | None
    amount_due: int | None = None
    period_start: datetime | None = None


def invoice_fields(obj: Any) -> InvoiceFields | None:
    """An invoice (a dict from an event, or a stripe object) as ``InvoiceFields``; None when
    it has no id."""
    invoice_id = _str(_get(obj, "id"))
    if invoice_id is None:
        return None
    details = _get(_get(obj, "parent"), "subscription_details") or _get(obj, "subscription_details")
    subscription = _id_of(_get(details, "subscription")) or _id_of(_get(obj, "subscription"))
    metadata = _get(details, "metadata")
    our_id = _str(_get(metadata, "subscription_id")) if metadata is not None else None
    lines = _get(_get(obj, "lines"), "data")
    line = lines[0] if isinstance(lines, list) and lines else None
    price_id = None
    period_start = period_end = None
    if line is not None:
        price_id = _id_of(_get(line, "price")) or _str(
            _get(_get(_get(line, "pricing"), "price_details"), "price")
        )
        period_end = _moment(_get(_get(line, "period"), "end"))
        period_start = _moment(_get(_get(line, "period"), "start"))
    return InvoiceFields(
        id=invoice_id,
        status=_str(_get(obj, "status")),
        subscription=subscription,
        our_id=our_id,
        customer=_id_of(_get(obj, "customer")),
        billing_reason=_str(_get(obj, "billing_reason")),
        amount_paid=_int(_get(obj, "amount_paid")),
        currency=_str(_get(obj, "currency")),
        price_id=price_id,
        period_end=period_end or _moment(_get(obj, "period_end")),
        amount_due=_int(_get(obj, "amount_due")),
        period_start=period_start or _moment(_get(obj, "period_start")),
    )


@dataclass(frozen=True, slots=True)
class SubscriptionFields:
    id: str
    our_id: str | None
    customer: str | None
    status: str | None  # Stripe's words
    cancel_at_period_end: bool | None
    current_period_end: datetime | None
    price_id: str | None


def subscription_fields(obj: Any) -> SubscriptionFields | None:
    subscription_id = _str(_get(obj, "id"))
    if subscription_id is None:
        return None
    metadata = _get(obj, "metadata")
    items = _get(_get(obj, "items"), "data")
    item = items[0] if isinstance(items, list) and items else None
    end = _moment(_get(obj, "current_period_end"))
    if end is None and item is not None:
        end = _moment(_get(item, "current_period_end"))
    cancel = _get(obj, "cancel_at_period_end")
    return SubscriptionFields(
        id=subscription_id,
        our_id=_str(_get(metadata, "subscription_id")) if metadata is not None else None,
        customer=_id_of(_get(obj, "customer")),
        status=_str(_get(obj, "status")),
        cancel_at_period_end=cancel if isinstance(cancel, bool) else None,
        current_period_end=end,
        price_id=_id_of(_get(item, "price")) if item is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Looked:
    """A subscription at Stripe, found from its checkout session when we have no id yet:
    ``subscription`` None while the session is open (``session_status``)."""

    session_status: str | None
    subscription: SubscriptionFields | None
    paid: list[InvoiceFields]


async def look_up_subscription(
    settings: Settings, *, session_id: str | None, subscription_id: str | None
) -> Looked:
    """The subscription (through its checkout session when its id is not known yet), and its
    paid invoices, newest first (Stripe's order), up to a hundred."""
    async with exchange(settings, "subscription lookup") as client:
        session_status = None
        if subscription_id is None and session_id is not None:
            session = await client.v1.checkout.sessions.retrieve_async(session_id)
            session_status = _str(_get(session, "status"))
            subscription_id = _id_of(_get(session, "subscription"))
        if subscription_id is None:
            return Looked(session_status, None, [])
        found = await client.v1.subscriptions.retrieve_async(subscription_id)
        invoices = await client.v1.invoices.list_async(
            {"subscription": subscription_id, "status": "paid", "limit": 100}
        )
    paid = [f for f in (invoice_fields(i) for i in _get(invoices, "data") or []) if f]
    return Looked(session_status, subscription_fields(found), paid)
