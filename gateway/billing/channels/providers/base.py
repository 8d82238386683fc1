"""What every payment provider offers the gateway, and what it is given and gives back.

A payment channel (Stripe, Stripe's invoices, the staging sandbox, Creem, MyFatoorah, Epay…)
is one module holding one ``Provider`` subclass and one line in the registry
(``gateway.billing.channels.registry``). The order code never asks which provider it is: it asks the
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

``renewal(sub, now) -> Notice | None``
    A channel no one else renews (``renews_here``: the staging sandbox): the report its next
    period that ended by ``now`` makes (paid, past due with the card failing, or canceled at
    the period's end), or None when none is due. The gateway applies it as a notice's
    (``billing.subscriptions.renewals``), a period at a time; it is a pure function of the row.

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

The interface is ``Provider`` and ``Context`` here, what they hand each other in ``messages``,
credentials in ``credentials``, what a provider raises in ``errors`` and one exchange with its
API in ``calls``: a provider imports each from its piece, and the registry (``channels.registry``)
offers them whole.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import SecretStr

from ....values.marking import marked
from ....values.settings import Settings
from ..protocols.exchange import NO_ANSWER, ChannelApi, ChannelError
from .credentials import Credentials, NoCredentials
from .errors import NoticeCodes, NoticeMalformed, NoticeRefused, NotSupported, ProviderError
from .messages import (
    Ack,
    Charged,
    Inbound,
    Kind,
    Looked,
    MethodSetup,
    Notice,
    Opened,
    OrderRef,
    PaymentRequest,
    Periods,
    Refunded,
    Renewing,
    SavedCharge,
    SavedMethod,
    SetupOpened,
    SubscriptionRef,
    SubscriptionRequest,
)

__all__ = ["CARD", "Context", "Provider", "channel_api", "channel_failed"]

C = TypeVar("C", bound=Credentials)


@dataclass(frozen=True, slots=True)
class Context(Generic[C]):
    """What one call of a provider is given, built by the gateway for that call."""

    settings: Settings
    env: str  # staging or live
    credentials: C
    http: httpx.AsyncClient  # bounded (timeout, no redirects); closed after the call
    now: datetime


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


# The one method every card channel offers, in the reader's words where a page shows it.
CARD = marked("Card")


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
    methods: ClassVar[tuple[str, ...]] = (CARD,)
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
    # Whether the gateway renews its subscriptions itself, each period's report made by
    # ``renewal`` (the sandbox, which no one else would renew); else the provider reports them.
    renews_here: ClassVar[bool] = False
    # Whether it keeps a payment method for charges with no one present (auto top-up).
    saves_methods: ClassVar[bool] = False

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

    def renewal(self, sub: Renewing, now: datetime) -> Notice | None:
        """The report of ``sub``'s next period that ended by ``now``, for a channel that
        ``renews_here``; None when none is due."""
        raise NotSupported

    async def look_up(self, ctx: Context[C], order: OrderRef) -> Looked:
        raise NotSupported

    async def refund(self, ctx: Context[C], order: OrderRef, amount_minor: int) -> Refunded:
        raise NotSupported

    async def open_setup(self, ctx: Context[C], req: MethodSetup) -> SetupOpened:
        """The page where a payment method is saved (providers with ``saves_methods``)."""
        raise NotSupported

    async def saved_method(self, ctx: Context[C], session_id: str) -> SavedMethod | None:
        """The method setup ``session_id`` saved, or ``None`` while it is not complete."""
        raise NotSupported

    async def charge_saved(self, ctx: Context[C], req: SavedCharge) -> Charged:
        """Charge a saved payment method with no one present (providers with
        ``saves_methods``), idempotent on ``req.key``; a refusal (a decline, a card that asks
        for its holder) raises ``ProviderError`` with status 402, no answer leaves it unknown."""
        raise NotSupported
