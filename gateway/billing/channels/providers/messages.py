"""What the gateway and a provider hand each other: a payment or a subscription to open and
what opened, a notification as it arrived and as it is read (``Notice``, ``PeriodNotice``), what
a look-up or a refund is told and what it finds (``base`` says when each is used)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..protocols.money import Money

__all__ = [
    "Ack",
    "Charge",
    "Charged",
    "Inbound",
    "Kind",
    "LookState",
    "Looked",
    "MethodSetup",
    "Notice",
    "NoticeState",
    "Opened",
    "OrderRef",
    "PaymentRequest",
    "PeriodNotice",
    "PeriodPaid",
    "Periods",
    "Refunded",
    "Renewing",
    "SavedCharge",
    "SavedMethod",
    "SetupOpened",
    "SubscriptionRef",
    "SubscriptionRequest",
]

Kind = Literal["checkout", "invoice"]
# What a notification says of an order: ``pending`` a payment on its way (the order must not
# expire meanwhile); ``ignored`` an event about nothing the gateway acts on (it is still
# recorded, and acknowledged, so the provider stops sending it).
NoticeState = Literal["paid", "failed", "expired", "pending", "ignored"]
# What a look-up finds: ``open`` still payable, ``unpaid`` completed with a delayed payment on
# its way; the others as a notice's.
LookState = Literal["paid", "open", "unpaid", "expired", "failed"]


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """A payment to open for an order that is not written yet (``order_id`` is already its
    id). Money in integer minor units of ``currency`` (the gateway's, USD today)."""

    order_id: str
    merchant_id: str
    env: str
    kind: Kind
    pack_id: str | None  # None: a custom amount
    name: str  # what the payer buys, as the receipt says it ("Starter pack", "Custom amount")
    credits: int
    amount_minor: int
    currency: str
    # Where the payer lands after paying: the gateway's own return, which looks the order up at
    # the provider before sending the payer on (a redirect is no proof of payment). A provider
    # may append its own query parameters to it.
    return_url: str
    cancel_url: str  # where the payer lands on giving up (the merchant's, or the gateway's)
    notify_url: str  # this channel's notification route, absolute
    email: str | None = None  # an invoice's addressee (one of the merchant's users)
    days_until_due: int | None = None  # an invoice's
    # The payer's way of paying where a channel takes several per account (Epay's ``type``:
    # alipay, wxpay...); None: the channel's own choice.
    method: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """A subscription to open (providers with ``subscriptions``): ours is ``subscription_id``
    (``sub_…``), written after the provider answers; each period charges ``amount_minor`` of
    ``currency`` and credits the plan's credits."""

    subscription_id: str
    merchant_id: str
    env: str
    plan_id: str
    plan_name: str
    interval: Literal["month", "year"]
    amount_minor: int
    currency: str
    return_url: str
    cancel_url: str
    notify_url: str
    email: str | None = None
    # A provider that ``keeps_plan_prices``: the plan's price at it for ``interval``; and the
    # merchant's customer there, from an earlier subscription through it.
    price_id: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class Charge:
    """What the payer is charged when a provider charges in its own currency: integer minor
    units of ``currency`` (KWD has three decimals: 1.250 KWD is 1250) and ``rate``, the decimal
    text of how many major units of ``currency`` one major unit of the order's currency bought
    (e.g. ``"0.3075"``). The order credits its own ``credit_cents`` whatever the rate."""

    amount_minor: int
    currency: str
    rate: str


@dataclass(frozen=True, slots=True)
class Charged:
    """A payment taken at once, where an agent presented it (MPP, x402): the provider's id of
    it, what it received (integer minor units of ``currency``), and what it answered, for the
    protocol's receipt."""

    payment_id: str
    amount_minor: int
    currency: str
    said: Any = None


@dataclass(frozen=True, slots=True)
class SavedCharge:
    """A charge of a payment method the merchant saved, made with no one present (an auto
    top-up, ``billing.auto_top_up``): ``key`` is the idempotency key, the same for every try
    of one top-up, so a retry after a lost answer is the same payment, never a second."""

    order_id: str
    merchant_id: str
    key: str
    amount_minor: int
    currency: str  # ISO 4217, upper case
    customer: str | None
    payment_method: str


@dataclass(frozen=True, slots=True)
class MethodSetup:
    """A page where a merchant saves a payment method for charges with no one present (Stripe
    Checkout in setup mode): for ``merchant_id``'s wallet ``wallet_id``, landing back on
    ``return_url``; ``key`` makes asking twice the same customer."""

    merchant_id: str
    wallet_id: str
    return_url: str
    key: str


@dataclass(frozen=True, slots=True)
class SetupOpened:
    """The setup page (``url``), the provider's id of it, and the customer it saves for."""

    url: str
    session_id: str
    customer: str | None


@dataclass(frozen=True, slots=True)
class SavedMethod:
    """A payment method a setup saved: the provider's id of it, its customer, and what a person
    reads of it (a card's brand and last four)."""

    payment_method: str
    customer: str | None
    label: str | None


@dataclass(frozen=True, slots=True)
class Opened:
    """A payment opened: the page a payer opens, the provider's id of it, its expiry, and what
    is charged if not the order's own amount and currency."""

    url: str
    session_id: str | None
    expires_at: datetime | None
    charge: Charge | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """A notification as it arrived, before anything is believed of it."""

    method: str  # POST, or GET for providers whose ``notify_methods`` include it
    body: bytes  # at most the provider's ``body_limit``
    headers: Mapping[str, str]  # names lower-cased
    query: Mapping[str, str]  # the first value of each name


@dataclass(frozen=True, slots=True)
class PeriodNotice:
    """What a notification says of a subscription (providers with ``subscriptions``):
    ``subscription_id`` is ours (``sub_…``, given at ``open_subscription``), ``invoice_id`` the
    provider's id of one paid period, the key of its one credit (as Stripe's ``invoice.paid``
    credits a period once), ``period_end`` when the period paid for ends;
    ``provider_customer_id`` the provider's customer (kept for its billing portal).

    The states: ``paid`` a period paid (credited once per ``invoice_id``); ``past_due`` a
    period's payment failed (``invoice_id`` set: the failure is recorded); ``active`` and
    ``canceled`` what the provider says of the subscription now (``status``, where the
    provider says one, is what ``active`` moves it to; a report without one moves nothing, since
    only a paid period makes a subscription active); ``expired`` its first checkout can no longer
    be paid; ``linked`` a report that only names the provider's ids, answered ``outcome``.
    ``price_id`` is the provider's price of the plan now paid for (a plan's
    ``provider prices``), ``period_start`` where a failed period starts."""

    state: Literal["paid", "active", "past_due", "canceled", "expired", "linked"]
    subscription_id: str | None
    provider_subscription_id: str | None = None
    invoice_id: str | None = None
    period_end: datetime | None = None
    cancel_at_period_end: bool | None = None
    provider_customer_id: str | None = None
    status: Literal["active", "past_due", "canceled"] | None = None
    price_id: str | None = None
    period_start: datetime | None = None
    outcome: str = "subscription_linked"


@dataclass(frozen=True, slots=True)
class PeriodPaid:
    """A paid period of a subscription, looked up rather than told (reconciliation): the
    provider's id of it (the ``invoice_id`` its notice carries), what was paid, when the period
    ends."""

    invoice_id: str
    amount_minor: int
    currency: str
    period_end: datetime | None
    price_id: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionRef:
    """What reconciliation is told of a subscription: ours, the provider's id of its first
    checkout (as ``open_subscription`` answered it) and the provider's ids of the subscription
    and its customer where a report named them already."""

    subscription_id: str
    session_id: str | None
    provider_subscription_id: str | None
    customer_id: str | None


@dataclass(frozen=True, slots=True)
class Renewing:
    """A subscription of a channel the gateway renews itself (``Provider.renews_here``), as its
    row stands: what ``Provider.renewal`` judges the next period by. Prices in integer cents."""

    subscription_id: str
    status: str
    interval: str
    current_period_end: datetime | None
    periods_paid: int
    cancel_at_period_end: bool
    card_fails: bool
    price_monthly: int
    price_yearly: int


@dataclass(frozen=True, slots=True)
class Periods:
    """What the provider says of a subscription, looked up: its ids (found through the first
    checkout when no report named them) and every paid period it knows of."""

    provider_subscription_id: str | None
    customer_id: str | None
    paid: tuple[PeriodPaid, ...]
    # What the provider says of the subscription now, where it says (``PeriodNotice``'s).
    status: Literal["active", "past_due", "canceled"] | None = None
    cancel_at_period_end: bool | None = None
    current_period_end: datetime | None = None
    price_id: str | None = None
    # Its first checkout can no longer be paid, and no subscription was made.
    checkout_expired: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """A verified notification, parsed. ``event_id`` is the dedupe key within the channel (the
    provider's event id, or what makes one notification of one state unique, as Epay's
    ``trade_no`` with its ``trade_status``). ``order_id`` is ours (``ord_…``), as given to the
    provider at ``open``; ``session_id`` the provider's id of the payment as ``open`` answered it
    (None when ``open`` answered none); ``payment_id`` the provider's id of the money moved,
    kept on the order. ``amount_minor`` and ``currency`` are what was paid, matched against the
    order's charge (or its amount) before anything is credited. ``merchant_id``, where the
    provider echoes the metadata given at ``open``, must be the order's. ``kind`` is the
    provider's own name for the event, logged and recorded (at most 100 characters).
    ``subscription`` is set instead of ``order_id`` for a subscription's report (``state`` then
    says of the payment, if any, as for an order). ``amount_signed`` is False where the
    provider's signature leaves the amount out (MyFatoorah's): ``event_id`` then names the
    signed report alone, and a copy whose amount does not match its order is refused quietly
    and leaves that report's place to the genuine copy (``notices``)."""

    event_id: str
    state: NoticeState
    order_id: str | None
    kind: str
    session_id: str | None = None
    payment_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    merchant_id: str | None = None
    created: datetime | None = None
    subscription: PeriodNotice | None = None
    amount_signed: bool = True
    # Why a ``failed`` order failed, where the provider says more than "payment failed".
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """The answer a provider expects to a notification it may stop sending."""

    body: bytes
    media_type: str = "text/plain"
    status: int = 200


@dataclass(frozen=True, slots=True)
class OrderRef:
    """What a look-up or a refund is told of an order: its ids here and at the provider and
    what was charged (``amount_minor`` of ``currency``: the charge, when there was one)."""

    order_id: str
    merchant_id: str
    env: str
    kind: Kind
    session_id: str | None
    payment_id: str | None
    amount_minor: int
    currency: str
    created_at: datetime
    # Of ``amount_minor``, what was refunded before the refund asked now: with the order id and
    # the amount, the refund's idempotency key at a provider that takes one, so a refund asked
    # again after its answer was lost is the one the provider made.
    refunded_minor: int = 0
    # The refund's own idempotency key (its row's, ``admin.refunds``): what a provider that
    # takes one is given, so every try of one refund names it and no other refund does.
    refund_key: str = ""
    # What the payment is settled with, where the provider asks again with it (x402's settle
    # body, ``FundingOrder.payment_payload``); None for every other order.
    payload: str | None = None


@dataclass(frozen=True, slots=True)
class Looked:
    """What the provider says of an order's payment, looked up rather than told.
    ``provider_status`` is the provider's own words for it (kept on the order, at most 40
    characters); ``session_id`` its id of the payment (matched against the order's, as a
    notice's); ``payment_id`` its id of the money moved."""

    state: LookState
    provider_status: str
    session_id: str | None
    payment_id: str | None
    amount_minor: int | None
    currency: str | None

    @classmethod
    def paying(
        cls,
        state: LookState,
        provider_status: str,
        session_id: str | None,
        payment_id: str | None,
        paid: Money | None,
    ) -> "Looked":
        """A look-up whose amount is a protocol's ``Money`` (None: the provider said none)."""
        minor, currency = (paid.minor, paid.currency) if paid is not None else (None, None)
        return cls(state, provider_status, session_id, payment_id, minor, currency)


@dataclass(frozen=True, slots=True)
class Refunded:
    """A refund the provider accepted: its id and its own word for the refund's state."""

    refund_id: str
    provider_status: str
