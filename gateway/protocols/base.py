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

The paying half (``Payer``) is the other side of the same protocol: an agent's wallet turning a
seller's 402 into a credential (MPP's Stripe method minting a Shared Payment Token, x402's
``exact`` scheme signing an EIP-3009 authorization). It is defined here and implemented by no
protocol yet; when it is, it lands in the same protocol's module, beside its ``Receiver``.
"""

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from ..billing.channels.registry import Charged, Context, Provider
from ..store.db import Database
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings

__all__ = [
    "MCP_PAYMENT_REQUIRED",
    "MCP_PAYMENT_REQUIRED_MESSAGE",
    "REFUSALS",
    "AgentPaid",
    "Ask",
    "Payer",
    "Presented",
    "Receiver",
    "Take",
    "Transport",
    "Verified",
    "digest",
]

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
    single use under (an MPP challenge's; an x402 authorization's nonce), what it pays, and
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


class Payer(ABC):
    """The paying half of a payment protocol: an agent's wallet answering a seller's 402.

    Not implemented by any protocol yet. When it is, it lives in the protocol's own module
    beside its ``Receiver`` (MPP: minting a Shared Payment Token for the challenge's amount
    with the Stripe method; x402: signing the ``exact`` scheme's EIP-3009 authorization for
    the requirement), and a wallet asks each registered protocol in turn."""

    name: ClassVar[str]

    @abstractmethod
    def offer_in(self, headers: Mapping[str, str], body: Any) -> Any | None:
        """The offer a seller's 402 makes in this protocol (its headers, its JSON), or None."""

    @abstractmethod
    async def credential_for(self, offer: Any, wallet: Any) -> Mapping[str, str]:
        """The credential that pays ``offer`` from ``wallet``, as the request headers (or the
        tool call's ``_meta`` entries) the retry carries."""
