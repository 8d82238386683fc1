"""What a payment protocol agents speak offers the gateway: the receiving half, and the place of
the paying half.

A protocol (MPP, x402, the next) is one module (or a small folder) holding one ``Receiver`` and
one line in the registry (``gateway.protocols.registry``). The doors never ask which protocol
it is: they read what a request presented (``registry.presented``), hand it to the paid retry
(``protocols.paid``), and render what it answered through the protocols that made it. Orders,
the ledger, events, receipts and reconciliation stay the channels' (``billing``): a protocol's
money is taken by a channel provider of its own (``Receiver.channel``), registered in the
channel registry with it, and credited as every channel's order is (``protocols.orders``).

The receiving half, in the order a paid retry meets it:

``offer(settings, ask) -> offer | None``
    On a refusal for funds: what the protocol offers to be paid with for ``ask.amount_cents``,
    bound to the merchant and environment, or None where it is not offered (not enabled there,
    or not spoken over ``ask.transport``). Built on a refusal's path only. How an offer is
    written on the 402: ``offer_headers`` (REST), ``offer_data`` (the MCP error's ``data``).

``credential_in_headers(headers)`` / ``credential_in_meta(meta) -> str | None``
    What a retry presented, as text this protocol's ``verify`` reads: a REST header, or a
    tool call's ``_meta``; None when it presented nothing of this protocol's.

``verify(settings, credential, merchant_id=, env=, now=) -> Verified``
    The credential checked against the offer it answers (the binding, the merchant and
    environment, the expiry, the payment material's shape) before anything is read from the
    store; refusals as ``ApiError`` with the product's codes (``REFUSALS``). What it answers
    is the order to claim (``Presented``, single use by its id) and how its money is taken
    (``Take``, the channel provider's call); ``protocols.orders.pay`` then pays it once.

``receipt(verified, paid, now) -> receipt | None``
    What the payer is told its payment was, once credited; written by ``receipt_headers``
    (REST) and ``receipt_meta`` (a tool result's ``_meta``).

Beside them: ``problem`` (the Problem Details body of a refusal, where the protocol defines
one), ``mcp_methods`` (what the MCP server's ``initialize`` advertises), ``refused_refund``
(why its orders cannot be refunded through the channel) and ``sweep`` (the worker's look for
payments its channel took and no order credited).

What a protocol may add besides, asked of the registry and never of the protocol by name:
``routes(door)``, REST routes of its own (MPP's staging test tokens), mounted in the API's route
table and built on the REST door's steps it is lent (``Door``: the protocols sit below the
doors and import none); ``dev_companion(settings, env)``, a process ``make run`` starts beside
the gateway (x402's staging facilitator), named to the gateway in ``env``.

The paying half (``Payer``) is the other side of the same protocol: an agent's wallet turning a
seller's 402 into a credential (MPP's Stripe method issuing a Shared Payment Token, x402's
``exact`` scheme signing an EIP-3009 authorization), in the same protocol's module, beside its
``Receiver``, which hands it to the registry (``Receiver.payer``): ``demand`` reads a challenge
(``Demand``), ``make`` makes the credential once per payment (``Made``), ``used`` asks its
provider whether the seller took it, ``revoke`` ends it. ``registry.demand_of`` asks each
protocol's payer in turn; ``destination`` names where a demand's money goes, which every
payee rule of a key's policy judges.
"""

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

from ..billing.channels.registry import Charged, Context, Provider
from ..store.engine import Database
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings

if TYPE_CHECKING:  # a protocol's routes are built by the app alone: the worker loads none
    from starlette.requests import Request
    from starlette.responses import Response

    from ..callers import Caller
    from ..ops.routing import ApiRoute, HeaderDoc
    from ..policies.model import Scope

__all__ = [
    "CHALLENGE_MAX_BYTES",
    "LONGEST_CHALLENGE_SECONDS",
    "MCP_PAYMENT_REQUIRED",
    "MCP_PAYMENT_REQUIRED_MESSAGE",
    "OWN",
    "REFUSALS",
    "WALLET",
    "AgentPaid",
    "Ask",
    "Companion",
    "Demand",
    "Door",
    "Made",
    "Payer",
    "PayerKey",
    "Presented",
    "Receiver",
    "Take",
    "Transport",
    "Use",
    "Verified",
    "Wallet",
    "digest",
]

# The longest a seller's challenge may stay payable, whatever it says: what a payment holds its
# amount for at most (an MPP challenge's ``expires``, an x402 offer's ``maxTimeoutSeconds``).
LONGEST_CHALLENGE_SECONDS = 3600

# Where a 402 is answered: a REST response's headers, or an MCP tool call's JSON-RPC error.
Transport = Literal["http", "mcp"]

# The codes a paid retry may be refused with, whichever protocol it spoke: the refusal for
# funds itself, and each reason a credential is turned away. A door documents them all.
REFUSALS: tuple[Code, ...] = (
    Code.INSUFFICIENT_BALANCE,
    Code.PAYMENT_CREDENTIAL_MALFORMED,
    Code.PAYMENT_CHALLENGE_INVALID,
    Code.PAYMENT_CHALLENGE_TAKEN,
    Code.PAYMENT_CHALLENGE_EXPIRED,
    Code.PAYMENT_VERIFICATION_FAILED,
    Code.PAYMENT_METHOD_UNSUPPORTED,
)

# The JSON-RPC error of a tool call refused for funds with offers (the payment transport's MCP
# binding, ``draft-payment-transport-mcp-00``), whatever protocols the offers are in.
MCP_PAYMENT_REQUIRED = -32042
MCP_PAYMENT_REQUIRED_MESSAGE = "Payment Required"


@dataclass(frozen=True, slots=True)
class Ask:
    """What an offer is made for: the merchant and environment it is bound to, the amount, when,
    and the transport it is written on."""

    merchant_id: str
    env: str
    amount_cents: int
    now: datetime
    transport: Transport


@dataclass(frozen=True, slots=True)
class Presented:
    """A payment presented on a retry and verified by its protocol: the channel, the id it is
    single use under (an MPP challenge's; an x402 offer's binding), what it pays, and
    until when its offer stood."""

    channel: str
    session_id: str
    amount_cents: int
    expires_at: datetime
    # Whether taking it again is the same payment (Stripe's idempotency key), so a retry may
    # take over an order whose first try's answer was lost; an x402 settle is not.
    resumable: bool = False
    # What reconciliation asks the provider again with, kept on the order (x402's settle body).
    payload: str | None = None
    # ``digest`` of the payment material (MPP's token, x402's signed payload): the order is
    # paid by the credential that wrote it, never by another presented for the same challenge.
    credential: str = ""


def digest(material: str) -> str:
    """What an order keeps of the credential that claimed it: the SHA-256 of its payment
    material, never the material (a token that could be charged)."""
    return hashlib.sha256(material.encode()).hexdigest()


# Takes the money at the provider, given the call's context and the order's id.
Take = Callable[[Context[Any], str], Awaitable[Charged]]


@dataclass(frozen=True, slots=True)
class Verified:
    """A credential its protocol checked: the order it claims, how its money is taken, and what
    the protocol keeps for its receipt (MPP's challenge and the payer's reference)."""

    presented: Presented
    take: Take
    kept: Any = None


@dataclass(frozen=True, slots=True)
class AgentPaid:
    """A credential's payment, credited: its order, the provider's id of it, the amount."""

    order_id: str
    payment_id: str
    amount_cents: int
    said: Any = None  # what the provider answered, for a protocol's receipt (x402's settle)

    def data(self) -> dict[str, Any]:
        """What a reply says of it: its order, and that the money is in the wallet."""
        return {
            "order_id": self.order_id,
            "reference": self.payment_id,
            "amount_cents": self.amount_cents,
            "credited": True,
        }


@dataclass(frozen=True, slots=True)
class Door:
    """The REST door's own steps, lent to a protocol's routes (``Receiver.routes``): the
    protocols sit below the doors, so a route of theirs is handed how the door finds the
    request's caller and renders an operation's outcome instead of importing them."""

    # The caller whose key authenticated the request, its scopes including the one asked
    # (``None``: the route checks it itself); the door's 401 without one.
    caller: "Callable[[Request, Scope | None], Caller]"
    # The operation performed (its outbox rows waking the workers after it committed) and its
    # outcome rendered as the envelope.
    answer: "Callable[[Request, Awaitable[Outcome]], Awaitable[Response]]"


@dataclass(frozen=True, slots=True)
class Companion:
    """A process ``make run`` starts beside the gateway for a protocol (x402's staging
    facilitator), supervised as the gateway is: started again when it exits, stopped with the
    run. Its output is dropped; ``said`` is the line ``make run`` prints after its welcome."""

    name: str  # as ``make run``'s lines about it name it: "x402 facilitator"
    command: tuple[str, ...]
    said: str


class Receiver(ABC):
    """The receiving half of a payment protocol (the module's docstring says the calls).
    ``name`` is its registry's name and the channel its orders are credited through."""

    name: ClassVar[str]

    @abstractmethod
    def channel(self) -> Provider[Any]:
        """The channel provider that takes this protocol's money (named ``name``), registered
        in the channel registry when the protocol is."""

    @abstractmethod
    def offer(self, settings: Settings, ask: Ask) -> Any | None:
        """What a refusal for funds offers to be paid with in this protocol, or None."""

    def offer_headers(self, offer: Any) -> dict[str, str]:
        """The response headers that carry ``offer`` on a REST 402."""
        return {}

    def offer_data(self, offer: Any, code: Code) -> dict[str, Any]:
        """What ``offer`` adds to the MCP refusal's ``error.data``; empty where the protocol is
        not spoken over MCP."""
        return {}

    @abstractmethod
    def credential_in_headers(self, headers: Mapping[str, str]) -> str | None:
        """The credential a REST request presented in this protocol, or None."""

    def credential_in_meta(self, meta: Mapping[str, Any]) -> str | None:
        """The credential a tool call presented in its ``_meta``, or None."""
        return None

    @abstractmethod
    def verify(
        self, settings: Settings, credential: str, *, merchant_id: str, env: str, now: datetime
    ) -> Verified:
        """The credential checked (refusals as ``ApiError``, codes of ``REFUSALS``)."""

    def receipt(self, verified: Verified, paid: AgentPaid, now: datetime) -> Any | None:
        """What the payer is told of a payment credited; None for no receipt."""
        return None

    def receipt_headers(self, receipt: Any) -> dict[str, str]:
        """The response headers that carry ``receipt`` on REST."""
        return {}

    def receipt_meta(self, receipt: Any) -> dict[str, Any] | None:
        """What ``receipt`` puts in a tool result's ``_meta``, if anything."""
        return None

    def problem(self, code: Code, offer: Any | None, data: Any) -> dict[str, Any] | None:
        """The Problem Details body (RFC 9457) of a refusal, where the protocol defines one;
        ``offer``: this protocol's offer on the refusal, if any."""
        return None

    def mcp_methods(self) -> dict[str, Any]:
        """The methods and intents the MCP server's ``initialize`` advertises it pays with."""
        return {}

    def refused_refund(self, order: Any) -> ApiError | None:
        """Why one of its orders cannot be refunded through its channel, or None."""
        return None

    async def sweep(self, db: Database, settings: Settings, now: datetime) -> list[Outcome]:
        """The worker's look for payments its channel took that no order credited."""
        return []

    def routes(self, door: Door) -> "list[ApiRoute]":
        """REST routes of the protocol's own, under the API's prefix, built on ``door``."""
        return []

    def dev_companion(self, settings: Settings, env: dict[str, str]) -> Companion | None:
        """The process ``make run`` starts for this protocol, if any, with what the gateway and
        the worker must know of it written into ``env``, their environment."""
        return None

    def headers(self) -> "list[HeaderDoc]":
        """The headers a paid retry reads and writes in this protocol (its credential, its
        offer on a 402, its receipt), as the OpenAPI document describes them."""
        return []

    def payer(self) -> "Payer | None":
        """The paying half of the same protocol, or None where the gateway does not pay in it;
        the registry lists it with the protocol (``registry.payers``)."""
        return None


# The longest challenge a payer reads (a ``WWW-Authenticate`` or ``PAYMENT-REQUIRED`` value, as
# the seller sent it): longer is refused before anything parses it. A seller's challenge is a
# few hundred bytes to two kilobytes.
CHALLENGE_MAX_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class Demand:
    """A seller's 402 challenge as its protocol read it, before anything is made or written:
    what paying it moves, to whom, until when, and the header the seller wants it in."""

    protocol: str  # the payer's ``name``
    amount_cents: int
    currency: str  # lower case ISO 4217: ``usd``
    payee: str  # whom it pays, as shown: MPP's realm; x402's ``payTo`` address
    # What ``allowed_payees`` may name besides the destination (``Payer.destination``): the
    # bare names of where the money goes (x402's ``payTo``; MPP's profile), never a name the
    # seller only states (MPP's realm). An origin binds by a person's word (``policies.payees``).
    payee_names: tuple[str, ...]
    header: str  # the request header the seller's retry reads the credential from
    expires_at: datetime  # when the challenge stops being payable
    kept: Any = None  # the parsed challenge, for ``make`` and ``used``
    # What makes it the same challenge, paid once by a merchant (``sellers
    # .challenged``): MPP's id, x402's offer; None where a challenge has no identity.
    once: str | None = None
    again: bool = False  # whether a request may buy it again while its first payment stands


@dataclass(frozen=True, slots=True)
class Made:
    """A credential made for a demand: the header's value, and what its provider knows it by
    (an issued Shared Payment Token's id, or staging's sandbox token; an EIP-3009
    authorization's nonce), for look-ups. Both are payment material a seller could take
    money with until the demand expires: kept sealed at rest (``Wallet.sealer``), never
    logged."""

    value: str
    reference: str


# Who pays a seller (``Wallet.funded_by``): the operator's treasury for a wallet that was
# debited, or the merchant's own instrument (its saved card, its payer key), the wallet not.
WALLET: Final = "wallet"
OWN: Final = "own"


@dataclass(frozen=True, slots=True)
class Wallet:
    """Whose money a credential is made from, and what making it may read: the merchant and
    environment, the store (the saved card, the sealed payer key), the sealer, the settings;
    and which instrument pays (``funded_by``): ``wallet``, the operator's treasury (its own
    payment method, its own payer key), the merchant's wallet having been debited; or ``own``,
    the merchant's own (its saved card, its payer key), the wallet not debited."""

    db: Database
    sealer: Any  # keys.Sealer
    settings: Settings
    merchant_id: str
    env: str
    funded_by: str = WALLET


@dataclass(frozen=True, slots=True)
class PayerKey:
    """A merchant's own key to pay sellers in a protocol (``sellers.payer_keys``): its secret
    as text, sealed at rest, opened only to make a credential, never shown or logged; and the
    address it pays from, public (what the merchant funds)."""

    secret: str = field(repr=False)
    address: str


# What a provider says of a credential made: not yet used; used (the seller took it; the
# amount it took in cents); or gone unused (expired, revoked).
Use = Literal["unused", "used", "gone"]


class Payer(ABC):
    """The paying half of a payment protocol: an agent's wallet answering a seller's 402, in
    the same protocol's module as its ``Receiver`` (MPP: a Shared Payment Token issued for the
    challenge's amount and expiry; x402: the ``exact`` scheme's EIP-3009 authorization).

    ``demand`` is pure (no I/O): the domain reads every challenge before it judges or writes
    anything. It is deterministic too: the same challenge read at the same ``now`` for the same
    environment (under the same settings) is the same ``Demand``, so what the domain keeps of a
    payment is the challenge's text and when it was read, and reading it again at that time
    restores the demand ``make``, ``used`` and ``revoke`` are asked with (in another process,
    after a restart, past its expiry). ``make`` is the only call that creates a credential and
    is idempotent on
    ``payment_id`` (the provider's idempotency key, or a nonce derived from it), so a retry
    after a lost answer makes the same credential, never a second one. ``used`` asks the
    provider (or, in staging, the sandbox) whether the seller took it: a use is learned, never
    assumed. ``revoke`` ends a credential not used at its provider where the provider can.
    ``name`` is the protocol's, as its ``Receiver``'s.

    A payer whose credential the merchant signs with a key of its own (x402's EIP-3009
    authorization) is ``keyed``: ``own_key`` reads one the merchant imports, or makes one, and
    the merchant keeps it sealed (``sellers.payer_keys``), where ``make`` reads it."""

    name: ClassVar[str]
    # Whether the merchant may keep a key of its own for this protocol (``own_key``).
    keyed: ClassVar[bool] = False
    # The response headers a seller's 402 writes this protocol's challenge in, each value one
    # challenge (``registry.challenges_in``: what a paying fetch reads of the 402 it met).
    challenge_headers: ClassVar[tuple[str, ...]] = ("WWW-Authenticate",)

    @abstractmethod
    def demand(
        self, settings: Settings, challenge: str, now: datetime, *, env: str
    ) -> Demand | None:
        """``challenge`` (a ``WWW-Authenticate`` value or a ``PAYMENT-REQUIRED`` value, as the
        seller sent it) read as this protocol's, to be paid from a wallet of ``env``
        (``staging`` pays test money only), or None when it is not this protocol's. Refusals
        as ``ApiError``: ``PAYMENT_CREDENTIAL_MALFORMED`` (its shape, or longer than
        ``CHALLENGE_MAX_BYTES``), ``PAYMENT_CHALLENGE_EXPIRED``, ``PAYMENT_METHOD_UNSUPPORTED``
        (a method, scheme, network, asset or currency this payer does not pay in ``env``)."""

    @abstractmethod
    async def make(self, wallet: Wallet, demand: Demand, *, payment_id: str) -> Made:
        """The credential that pays ``demand`` from ``wallet``, made once per ``payment_id``.
        A provider's refusal or failure raises (``ApiError``: ``PAYMENT_PROVIDER_ERROR``,
        ``PAYMENT_PROVIDER_TIMEOUT``), and the caller releases what it held."""

    @abstractmethod
    async def used(
        self, wallet: Wallet, demand: Demand, made: Made, *, now: datetime
    ) -> tuple[Use, int]:
        """Whether the seller used ``made``, and how much it took in cents (0 unless used);
        ``gone`` only once nothing can use it any more. ``now``: the caller's clock, which says
        when a credential whose provider keeps no expiry of its own is past using."""

    async def revoke(self, wallet: Wallet, demand: Demand, made: Made) -> None:
        """End ``made`` at its provider, where it can be ended before its expiry."""
        return None

    @abstractmethod
    def destination(self, demand: Demand) -> str:
        """Where paying ``demand`` sends the money, as one canonical string every payee rule
        keys on (``policies.payees``): the protocol's name, then what identifies the account
        paid (x402: ``x402:<network>:<asset>:<payTo>``, its EVM addresses in lower case; MPP:
        ``mpp:<the seller's Stripe profile>``), at most ``payees.MAX_DESTINATION``
        characters. Pure, as ``demand`` is; the url the agent names is never part of it."""

    async def ready(self, wallet: Wallet, demand: Demand) -> None:
        """Refuse, before any money moves, a payment ``make`` could not make for want of what
        its funding needs (``wallet.funded_by``: the operator's treasury instrument, the
        merchant's saved card or payer key, the provider's credentials): raises as ``make``
        would (``ApiError``). Reads the settings and the store, never the provider; a sealed
        key is opened to judge that it signs once a process for each sealed value
        (``payer_keys.judged``), never for each payment. A protocol whose ``make`` needs
        nothing configured has nothing to refuse."""
        return None

    def treasury_set(self, settings: Settings) -> bool:
        """Whether the operator's own instrument that pays this protocol's sellers for a live
        wallet is configured (staging pays with test instruments). A protocol whose payer holds
        no instrument of the operator's has nothing to set."""
        return True

    async def treasury_cents(
        self, db: Database, sealer: Any, settings: Settings, env: str
    ) -> int | None:
        """What the provider says the operator's instrument for this rail in ``env`` holds, in
        cents (the treasury's reconciliation, ``sellers.reconcile``); ``None`` where
        the provider tells no balance of it (a card not issued by the provider), or no
        instrument is set."""
        return None

    def own_key(self, given: str | None) -> PayerKey:
        """A ``keyed`` payer's key for the merchant: ``given`` read as this protocol's secret,
        or a new one made when it is ``None``. One that is not a key raises ``ValueError``, in
        words that never repeat it."""
        raise NotImplementedError(f"{self.name} keeps no key of the merchant's")
