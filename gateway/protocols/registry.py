"""The payment protocols agents speak: a module each (``base.Receiver``), and this registry.

A protocol is one ``Receiver`` and one line in ``_BUILT_IN`` below; nothing else in the product
names it. Registering a protocol registers its channel (``Receiver.channel``) in the channel
registry too (``billing.channels.registry``), so its orders are settled, reconciled and refunded as
every channel's are. The order of the registry is the order a retry's credentials are read in
and a 402's offers are written in.

What a protocol adds besides is asked of every one here too: its REST routes (``routes``,
mounted by the API's route table) and its process beside ``make run`` (``dev_companions``).

``register`` adds a protocol at run time (a test's made-up one) and ``registered`` does so for
the length of a ``with`` block; a name already taken is refused.

The paying half comes with its protocol: a receiver offers its payer (``Receiver.payer``), and
``payers`` lists them in the registry's order (``paying`` adds one for a block: a test's).
``demand_of`` reads a seller's challenge by the first payer that takes it as its protocol's,
after bounding its size; none that does is ``PAYMENT_METHOD_UNSUPPORTED``. ``challenges_in``
lists the challenges a seller's 402 carries, in the payers' order, where each payer says its
protocol writes them (``Payer.challenge_headers``).
"""

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..billing.channels import registry as providers
from ..store.engine import Database
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .base import CHALLENGE_MAX_BYTES, Companion, Demand, Door, Payer, Receiver
from .mpp import MppReceiver
from .x402 import X402Receiver

if TYPE_CHECKING:
    from ..ops.routing import ApiRoute, HeaderDoc

__all__ = [
    "Presenting",
    "all_receivers",
    "challenges_in",
    "demand_of",
    "dev_companions",
    "get",
    "headers",
    "mcp_capability",
    "names",
    "payer",
    "payers",
    "paying",
    "presented_in_headers",
    "presented_in_meta",
    "register",
    "registered",
    "routes",
    "sweep",
    "unregister",
]

# One line per protocol.
_BUILT_IN: tuple[Receiver, ...] = (
    MppReceiver(),
    X402Receiver(),
)

_RECEIVERS: dict[str, Receiver] = {}


def register(receiver: Receiver) -> Receiver:
    """Speak ``receiver``'s protocol from now on, its channel registered with it; a name taken
    already (by a protocol or a channel) is refused."""
    if receiver.name in _RECEIVERS:
        raise ValueError(f"a protocol is already registered as {receiver.name!r}")
    channel = receiver.channel()
    if channel.name != receiver.name:
        raise ValueError(f"a protocol's channel is named as it is: {channel.name!r}")
    providers.register(channel)
    _RECEIVERS[receiver.name] = receiver
    return receiver


def unregister(name: str) -> None:
    """Take a protocol added by ``register`` away, with its channel (the built-in ones stay)."""
    if any(r.name == name for r in _BUILT_IN):
        raise ValueError(f"{name!r} is built in")
    if _RECEIVERS.pop(name, None) is not None:
        providers.unregister(name)


@contextmanager
def registered(receiver: Receiver) -> Iterator[Receiver]:
    """``receiver`` registered for the length of the block (a test's made-up protocol)."""
    register(receiver)
    try:
        yield receiver
    finally:
        unregister(receiver.name)


def get(name: str) -> Receiver | None:
    """The protocol called ``name``, if one is registered."""
    return _RECEIVERS.get(name)


def all_receivers() -> list[Receiver]:
    """Every registered protocol, the built-in ones first, then in order of registration."""
    return list(_RECEIVERS.values())


def headers() -> "list[HeaderDoc]":
    """The headers of a paid retry in every registered protocol, for the OpenAPI document."""
    return [h for r in _RECEIVERS.values() for h in r.headers()]


def names() -> frozenset[str]:
    return frozenset(_RECEIVERS)


# Paying halves added for a block (``paying``: a test's made-up one), after the protocols'.
_ADDED_PAYERS: dict[str, Payer] = {}


def payers() -> list[Payer]:
    """The paying half of every registered protocol that has one, in the registry's order, then
    those added for a block."""
    found = [p for p in (r.payer() for r in _RECEIVERS.values()) if p is not None]
    return [*found, *_ADDED_PAYERS.values()]


def payer(name: str) -> Payer | None:
    """The paying half of the protocol called ``name`` (a ``Demand``'s ``protocol``), if any."""
    receiver = _RECEIVERS.get(name)
    found = receiver.payer() if receiver is not None else None
    return found if found is not None else _ADDED_PAYERS.get(name)


@contextmanager
def paying(added: Payer) -> Iterator[Payer]:
    """``added`` listed as a paying half for the length of the block (a test's made-up one);
    a name a protocol or another payer holds is refused."""
    if payer(added.name) is not None:
        raise ValueError(f"a payer is already registered as {added.name!r}")
    _ADDED_PAYERS[added.name] = added
    try:
        yield added
    finally:
        _ADDED_PAYERS.pop(added.name, None)


def demand_of(settings: Settings, challenge: str, now: datetime, *, env: str) -> Demand:
    """A seller's challenge (a ``WWW-Authenticate: Payment`` value, or an x402
    ``PAYMENT-REQUIRED`` value) read by the first payer whose protocol it is, to be paid from a
    wallet of ``env``. Refused (``ApiError``): ``PAYMENT_CREDENTIAL_MALFORMED`` when it is empty,
    longer than ``CHALLENGE_MAX_BYTES`` or not one line of text, or its protocol cannot read
    it; ``PAYMENT_METHOD_UNSUPPORTED`` when no protocol takes it, and what each payer refuses
    (``Payer.demand``)."""
    text = challenge.strip()
    if not text or len(text.encode("utf-8", "surrogatepass")) > CHALLENGE_MAX_BYTES:
        raise ApiError(
            Code.PAYMENT_CREDENTIAL_MALFORMED,
            f"The challenge is empty or longer than {CHALLENGE_MAX_BYTES} bytes: nothing was paid",
        )
    if not text.replace("\t", " ").isprintable():
        raise ApiError(
            Code.PAYMENT_CREDENTIAL_MALFORMED,
            "The challenge is not one line of text, as a header's value is: nothing was paid",
        )
    for each in payers():
        found = each.demand(settings, text, now, env=env)
        if found is not None:
            return found
    raise ApiError(
        Code.PAYMENT_METHOD_UNSUPPORTED,
        "No payment protocol this gateway pays with reads this challenge: nothing was paid",
    )


def challenges_in(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The challenges a seller's 402 carries (``headers``: its header lines, as sent), each
    once: those in the first payer's headers first, in the registry's order."""
    lines = [(name.lower(), value.strip()) for name, value in headers]
    found: list[str] = []
    for each in payers():
        for header in each.challenge_headers:
            wanted = header.lower()
            found += [v for n, v in lines if n == wanted and v and v not in found]
    return found


# What a retry presented: the protocol, and its credential as that protocol reads it.
Presenting = tuple[Receiver, str]


def presented_in_headers(headers: Mapping[str, str]) -> Presenting | None:
    """The first protocol, in the registry's order, whose credential a REST request carries."""
    for receiver in _RECEIVERS.values():
        found = receiver.credential_in_headers(headers)
        if found is not None:
            return receiver, found
    return None


def presented_in_meta(meta: Mapping[str, Any] | None) -> Presenting | None:
    """The first protocol whose credential a tool call's ``_meta`` carries."""
    if not meta:
        return None
    for receiver in _RECEIVERS.values():
        found = receiver.credential_in_meta(meta)
        if found is not None:
            return receiver, found
    return None


def mcp_capability() -> dict[str, dict[str, Any]]:
    """``capabilities.experimental`` of the MCP server's ``initialize`` result: the methods and
    intents every protocol spoken over MCP pays with."""
    methods: dict[str, Any] = {}
    for receiver in _RECEIVERS.values():
        methods.update(receiver.mcp_methods())
    return {"payment": {"methods": methods}} if methods else {}


def routes(door: Door) -> "list[ApiRoute]":
    """Every protocol's own REST routes, in the registry's order, built on ``door``."""
    return [route for receiver in _RECEIVERS.values() for route in receiver.routes(door)]


def dev_companions(settings: Settings, env: dict[str, str]) -> list[Companion]:
    """The processes ``make run`` starts beside the gateway for the protocols, each having
    written what the gateway must know of it into ``env``."""
    found = (receiver.dev_companion(settings, env) for receiver in _RECEIVERS.values())
    return [companion for companion in found if companion is not None]


async def sweep(db: Database, settings: Settings, now: datetime | None = None) -> list[Outcome]:
    """Every protocol's look for payments its channel took that no order credited: the
    outcomes of those credited or given back (with the deliveries to wake the workers for)."""
    now = now or utcnow()
    done: list[Outcome] = []
    for receiver in _RECEIVERS.values():
        done += await receiver.sweep(db, settings, now)
    return done


for _receiver in _BUILT_IN:
    register(_receiver)
