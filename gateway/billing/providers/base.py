"""What every payment provider offers the gateway, and what it is given and gives back.

A payment channel (Stripe, Stripe's invoices, the staging sandbox, Creem, MyFatoorah, Epay…)
is one module holding one ``Provider`` subclass and one line in the registry
(``gateway.billing.providers``). The order code never asks which provider it is: it asks the
provider to open a payment, to read a notification, to look an order up, to refund; and it
records what the provider said as the order's transitions (``billing.orders``), the same for
every channel. A provider does network and parsing only: it writes nothing, credits nothing
and never sees a database connection.

The calls, in the order an order meets them:

``open(ctx, req) -> Opened``
    Before the order is written: the page a payer opens (``url``, absolute), the provider's
    id of the payment (``session_id``, unique per provider, or ``None`` when the provider makes
    no id before it is paid, as Epay) and when the page stops taking payment (``expires_at``;
    ``None`` means the gateway's own TTL, ``AITOPUP_SANDBOX_ORDER_TTL_SECONDS``). A provider
    that charges in a currency of its own (MyFatoorah's KWD) answers ``charge``: what the payer
    is charged, in that currency's integer minor units, and the rate used; the order keeps it
    beside what it credits. A refusal or a timeout raises (``ProviderError``), and then no
    order is written.

``verify(ctx, inbound)`` then ``parse(ctx, inbound) -> Notice``
    A notification (webhook, IPN, notify) as it arrived: raw body bytes (already bounded by
    ``body_limit``), headers (names lower-cased) and query. ``verify`` checks the signature in
    constant time (``hmac.compare_digest``) *before* anything is parsed that allocates on the
    sender's say-so, and refuses a stale one where the provider dates them
    (``NoticeRefused``); ``parse`` turns the verified notification into a ``Notice``
    (``NoticeMalformed`` when it is not one). The gateway then records the notice's
    ``event_id`` once per channel (a repeat credits nothing), finds the order, checks it is
    this channel's, its merchant's and its amount, and settles it. ``ack(notice)`` is the body
    the provider expects back on success (Epay: the text ``success``).

``look_up(ctx, order) -> Looked``
    Reconciliation: what the provider says of an order now (a lost or late notification is
    found this way: by the worker's sweep, by "check payment", by the payer's return). Only
    for providers with ``can_look_up``; the others raise ``NotSupported``.

``open_subscription(ctx, req) -> Opened``
    Providers with ``subscriptions``: the page a subscriber opens for a plan; each paid period
    is then a notice with ``subscription`` set, credited once per ``invoice_id``.

``paid_periods(ctx, ref) -> Periods``
    Reconciliation of a subscription: its paid periods as the provider lists them, each
    credited once by the rule its notices use; ``NotSupported`` where it cannot say.

``open_portal(ctx, customer_id, return_url) -> str``
    Where a subscriber manages a subscription opened through the provider (its customer
    portal); ``NotSupported`` where it has none.

``refund(ctx, order, amount_minor) -> Refunded``
    Money back through the provider, where it can (``can_refund``); else ``NotSupported``.
    ``amount_minor`` is in the charge's currency, at most what is left of it. It is called
    after the transaction that records the refund and debits the wallet committed
    (``admin.refunds``), and again by the worker while its answer is not known, so it must be
    idempotent on ``order.refund_key`` (where the provider takes a key) or on the payment's own
    state: a refund asked again after its answer was lost must be the one the provider made,
    never a second. A refusal raises ``ProviderError`` with the provider's status (the refund
    reversed); no answer, or a 5xx, leaves it pending. A
    provider that refunds only all that is left of a payment (``refunds_in_full``: Creem) is
    never asked for a part: the gateway refuses one before anything is taken.

A provider's credentials are a pydantic model (``Credentials``); every secret field is a
``SecretStr``: sealed at rest, answered masked, never logged. The operator sets them per
environment (``PUT /api/admin/v1/billing/channels/{channel}/{env}``); ``default_credentials``
may read the process settings instead (Stripe's ``AITOPUP_STRIPE_*``), used when no row is
saved. Live notifications are verified with the live credentials: staging pays every channel
through the sandbox, so no provider notifies about a staging order.

Everything a provider is handed (``Context``) is built per call by the gateway: the settings,
the environment, the credentials parsed, one bounded httpx client (``ctx.http``: timeout from
``AITOPUP_PAYMENT_TIMEOUT_SECONDS``, no redirects followed) and the clock. Answers from the
provider are read with ``request_json`` (capped at ``ANSWER_CAP``) and reach merchants only
in the product's own codes, never the provider's text.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr

from ...values.codes import Code
from ...values.settings import Settings
from ...webhooks.bodies import BodyTooLarge, encoded, read_capped
from ..protocols.exchange import NO_ANSWER, ChannelApi, ChannelError
from ..protocols.money import Money, loads

__all__ = [
    "ANSWER_CAP",
    "Ack",
    "Answer",
    "ApiRoot",
    "Charge",
    "Context",
    "Credentials",
    "CurrencyCode",
    "Inbound",
    "Kind",
    "LookState",
    "Looked",
    "NoCredentials",
    "NotSupported",
    "Notice",
    "NoticeCodes",
    "NoticeMalformed",
    "NoticeRefused",
    "NoticeState",
    "Opened",
    "OrderRef",
    "PaymentRequest",
    "PeriodNotice",
    "PeriodPaid",
    "Periods",
    "Provider",
    "ProviderError",
    "Refunded",
    "SubscriptionRef",
    "SubscriptionRequest",
    "channel_api",
    "channel_failed",
    "read_json",
    "request_json",
]

# What is read of one answer from a provider's API: their objects are a few kilobytes.
ANSWER_CAP = 1 << 20

Kind = Literal["checkout", "invoice"]
# What a notification says of an order: ``pending`` a payment on its way (the order must not
# expire meanwhile); ``ignored`` an event about nothing the gateway acts on (it is still
# recorded, and acknowledged, so the provider stops sending it).
NoticeState = Literal["paid", "failed", "expired", "pending", "ignored"]
# What a look-up finds: ``open`` still payable, ``unpaid`` completed with a delayed payment on
# its way; the others as a notice's.
LookState = Literal["paid", "open", "unpaid", "expired", "failed"]


class Credentials(BaseModel):
    """A provider's credentials for one environment. Subclass with the provider's fields;
    every secret one a ``SecretStr`` (the gateway seals the whole model at rest, answers each
    ``SecretStr`` masked and keeps a saved secret when an update leaves it out). Non-secret
    fields (an API root, a merchant number) are answered as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    def account_id(self) -> str:
        """The provider's account these credentials name in the clear (Epay's merchant
        number), within which the provider's ids are unique; "" where only a secret names it,
        and the channel and environment stand for the account."""
        return ""


_CURRENCY = re.compile(r"[A-Z]{3}")


def _api_root(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("an absolute http(s) URL")
    return value.rstrip("/")


def _currency(value: str) -> str:
    if not _CURRENCY.fullmatch(value.upper()):
        raise ValueError("a currency is its three-letter ISO 4217 code, such as KWD")
    return value.upper()


# A credentials field: a provider's API root, absolute http(s), kept without a trailing slash.
ApiRoot = Annotated[str, AfterValidator(_api_root)]
# A credentials field: the account's currency, its ISO 4217 code, kept in upper case.
CurrencyCode = Annotated[str, AfterValidator(_currency)]


class NoCredentials(Credentials):
    """A provider that needs none (the sandbox)."""


C = TypeVar("C", bound=Credentials)


@dataclass(frozen=True, slots=True)
class Context(Generic[C]):
    """What one call of a provider is given, built by the gateway for that call."""

    settings: Settings
    env: str  # staging or live
    credentials: C
    http: httpx.AsyncClient  # bounded (timeout, no redirects); closed after the call
    now: datetime


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


class ProviderError(Exception):
    """The provider refused, failed or did not answer in time: the caller answers
    ``PAYMENT_PROVIDER_ERROR`` or ``PAYMENT_PROVIDER_TIMEOUT``. ``reason`` is for the log (no
    secret, no body of the provider's); ``status`` and ``code`` the provider's, if it said."""

    def __init__(
        self,
        reason: str,
        *,
        timeout: bool = False,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timeout = timeout
        self.status = status
        self.code = code


A = TypeVar("A", bound=ChannelApi)


def channel_api(kind: type[A], ctx: Context[Any], api_base: str, key: SecretStr) -> A:
    """``kind`` (a channel's ``ChannelApi``) for one call: the call's client and time bound,
    the account's root and key, the key revealed only here."""
    return kind(ctx.http, api_base, key.get_secret_value(), ctx.settings.payment_timeout_seconds)


def channel_failed(channel: str, exc: ChannelError) -> ProviderError:
    """A channel API's failure (``protocols.exchange``) as the provider's error, the outcome
    its reason; no answer in time is a timeout."""
    return ProviderError(
        f"{channel}: {exc.outcome}", timeout=exc.outcome == NO_ANSWER, status=exc.status
    )


class NoticeRefused(Exception):
    """A notification whose signature is missing, wrong or stale: answered without a trace,
    logged once with ``reason`` (never the body or the signature). ``code``: the envelope's,
    where not the provider's ``codes.refused`` (a secret not set, say)."""

    def __init__(self, reason: str, code: Code | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, slots=True)
class NoticeCodes:
    """The envelope codes a channel's notifications are refused with. ``order_mismatch`` None:
    a notice about another channel's order is not refused but left to the order's transitions,
    which settle nothing and answer ``mismatch`` (Stripe's, as its events always did)."""

    refused: Code = Code.PAYMENT_NOTICE_REFUSED
    malformed: Code = Code.PAYMENT_NOTICE_MALFORMED
    not_configured: Code = Code.PAYMENT_CHANNEL_NOT_CONFIGURED
    not_processed: Code = Code.PAYMENT_NOTICE_NOT_PROCESSED
    order_mismatch: Code | None = Code.PAYMENT_NOTICE_ORDER_MISMATCH


class NoticeMalformed(Exception):
    """A verified notification that is not one the provider documents."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotSupported(Exception):
    """What the provider cannot do (look an order up, refund)."""


class Provider(Generic[C]):
    """One payment channel. Subclass per provider, set the class attributes, override the
    calls it supports; one instance goes in the registry under ``name``.

    Every call may be repeated (a retry, a second sweep): ``open`` is called once per order id
    and should pass it to the provider as its idempotency key or reference where it takes one.
    """

    # The channel's id, in routes, orders and settings: lower-case letters, digits and _.
    name: ClassVar[str]
    # What a person reads: on the Wallet page, the sandbox page, the docs.
    title: ClassVar[str]
    # How the sandbox page stands this channel in (staging): the methods a payer would pick.
    methods: ClassVar[tuple[str, ...]] = ("Card",)
    credentials: ClassVar[type[Credentials]] = NoCredentials
    kinds: ClassVar[frozenset[Kind]] = frozenset({"checkout"})
    subscriptions: ClassVar[bool] = False
    can_look_up: ClassVar[bool] = False
    can_refund: ClassVar[bool] = False
    # Whether it refunds only all that is left of a payment, never a part (Creem).
    refunds_in_full: ClassVar[bool] = False
    # The methods its notifications come with (Epay's notify is a GET with a query string).
    notify_methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    # The longest notification body read; past it the sender gets BODY_TOO_LARGE, unread.
    body_limit: ClassVar[int] = 64 * 1024
    # Whether a payment it reports may be credited after the order expired here: a provider
    # takes money while its own page is open and may tell later (days, with retries). Only the
    # sandbox, whose Pay button is the payment itself, says no.
    settles_late: ClassVar[bool] = True
    # Whether it is the staging sandbox: what every channel is in staging, its pages the
    # gateway's own (opened by a redirect, no cache keeping the link), never offered in live.
    stands_in: ClassVar[bool] = False
    # Whether a plan's prices at it are made as the plan is saved and kept with the plan
    # (Stripe's): a live subscription through it is opened at those prices, the channel's
    # choice not asked.
    keeps_plan_prices: ClassVar[bool] = False
    # The codes its notifications are refused with (``NoticeCodes``).
    notice_codes: ClassVar[NoticeCodes] = NoticeCodes()
    # Whether reconciliation stops asking after a subscription's abandoned first checkout a
    # day past its expiry; False: it asks until the provider says the checkout expired.
    forgets_abandoned: ClassVar[bool] = True

    def default_credentials(self, settings: Settings, env: str) -> C | None:
        """Credentials from the process settings, used when the operator saved none for
        ``env`` (Stripe's ``AITOPUP_STRIPE_*``); ``None``: the channel needs a saved row."""
        return None

    def notice_credentials(self, settings: Settings) -> C | None:
        """What its notifications are verified with when the live channel has no credentials
        (saved or ``default_credentials``): Stripe's process webhook secret alone."""
        return None

    def enabled_by_default(self, settings: Settings, env: str) -> bool:
        """Whether the channel is offered in ``env`` when the operator saved no row for it."""
        return False

    async def open(self, ctx: Context[C], req: PaymentRequest) -> Opened:
        raise NotImplementedError

    def verify(self, ctx: Context[C], inbound: Inbound) -> None:
        """Raise ``NoticeRefused`` unless the notification is the provider's, and fresh."""
        raise NoticeRefused("this channel takes no notifications")

    def parse(self, ctx: Context[C], inbound: Inbound) -> Notice:
        """The verified notification as a ``Notice``, or ``NoticeMalformed``."""
        raise NoticeMalformed("this channel takes no notifications")

    def ack(self, notice: Notice) -> Ack | None:
        """The body the provider expects once a notification is taken (or was taken before);
        None: the gateway's envelope saying the event id and what it did (Stripe's)."""
        return Ack(b'{"received":true}', "application/json")

    async def open_subscription(self, ctx: Context[C], req: SubscriptionRequest) -> Opened:
        """The page a subscriber opens (providers with ``subscriptions``)."""
        raise NotSupported

    async def open_portal(self, ctx: Context[C], customer_id: str, return_url: str) -> str:
        """The page where a subscriber of this provider manages its subscription (absolute),
        for the provider's customer ``customer_id``; ``NotSupported`` where it has none."""
        raise NotSupported

    async def paid_periods(self, ctx: Context[C], ref: SubscriptionRef) -> Periods:
        """Every paid period the provider knows of the subscription, for reconciliation (a
        lost report found this way); ``NotSupported`` where it cannot say."""
        raise NotSupported

    async def look_up(self, ctx: Context[C], order: OrderRef) -> Looked:
        raise NotSupported

    async def refund(self, ctx: Context[C], order: OrderRef, amount_minor: int) -> Refunded:
        raise NotSupported


@dataclass(frozen=True, slots=True)
class Answer:
    """A provider's answer: its HTTP status and its body parsed as JSON."""

    status: int
    body: Any


async def read_json(response: httpx.Response, cap: int = ANSWER_CAP) -> Any:
    """A provider's JSON answer on a streamed response (``http.send(..., stream=True)``), read
    to ``cap`` and parsed, its amounts as ``Decimal`` (``money.loads``), the response closed;
    ``ProviderError`` if it is longer, encoded unasked or not JSON."""
    try:
        body = await read_capped(response, cap, whole=True)
    except BodyTooLarge:
        raise ProviderError("answer too long", status=response.status_code) from None
    finally:
        await response.aclose()
    if encoded(response):
        raise ProviderError("answer in an encoding not asked for", status=response.status_code)
    try:
        return loads(body)
    except (ValueError, RecursionError):
        raise ProviderError("answer is not JSON", status=response.status_code) from None


async def request_json(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Answer:
    """One exchange with a provider's API (``kwargs`` as ``httpx.AsyncClient.build_request``
    takes them), its answer read by ``read_json``; a timeout or a failed connection is a
    ``ProviderError`` (``timeout`` set for the first). Whether the status is a refusal is the
    provider's to judge."""
    headers = {**dict(kwargs.pop("headers", None) or {}), "Accept-Encoding": "identity"}
    try:
        request = http.build_request(method, url, headers=headers, **kwargs)
        response = await http.send(request, stream=True)
        return Answer(response.status_code, await read_json(response))
    except httpx.TimeoutException:
        raise ProviderError("no answer in time", timeout=True) from None
    except httpx.HTTPError as exc:
        raise ProviderError(f"unreachable: {type(exc).__name__}") from None
