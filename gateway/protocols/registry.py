"""The payment protocols agents speak: a module each (``base.Receiver``), and this registry.

A protocol is one ``Receiver`` and one line in ``_BUILT_IN`` below; nothing else in the product
names it. Registering a protocol registers its channel (``Receiver.channel``) in the channel
registry too (``billing.channels.registry``), so its orders are settled, reconciled and refunded as
every channel's are. The order of the registry is the order a retry's credentials are read in
and a 402's offers are written in.

``register`` adds a protocol at run time (a test's made-up one) and ``registered`` does so for
the length of a ``with`` block; a name already taken is refused.

The paying halves (``base.Payer``) are listed beside them (``payers``; ``paying`` adds one for
a block): ``demand_of`` asks each, in order, to read a seller's challenge.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..billing.channels import registry as providers
from ..store.db import Database
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .base import Demand, Payer, Receiver
from .mpp import MppReceiver
from .x402 import X402Receiver

__all__ = [
    "Presenting",
    "all_receivers",
    "demand_of",
    "get",
    "mcp_capability",
    "names",
    "payer",
    "payers",
    "paying",
    "presented_in_headers",
    "presented_in_meta",
    "register",
    "registered",
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


def names() -> frozenset[str]:
    return frozenset(_RECEIVERS)


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


# The paying halves: one line per protocol that pays.
_PAYERS_BUILT_IN: tuple[Payer, ...] = ()
_PAYERS: dict[str, Payer] = {p.name: p for p in _PAYERS_BUILT_IN}


def payers() -> tuple[Payer, ...]:
    """Every paying half, the built-in ones first, in the order a challenge is read."""
    return tuple(_PAYERS.values())


def payer(name: str) -> Payer | None:
    """The paying half of protocol ``name``, if one is registered."""
    return _PAYERS.get(name)


@contextmanager
def paying(added: Payer) -> Iterator[Payer]:
    """``added`` registered as a paying half for the length of the block (a test's made-up
    one); a name taken already is refused."""
    if added.name in _PAYERS:
        raise ValueError(f"a payer is already registered as {added.name!r}")
    _PAYERS[added.name] = added
    try:
        yield added
    finally:
        _PAYERS.pop(added.name, None)


def demand_of(settings: Settings, challenge: str, now: datetime) -> Demand:
    """A seller's ``challenge`` read by the first paying half that reads it (its refusals, a
    challenge malformed or expired, as it raises them), or ``PAYMENT_METHOD_UNSUPPORTED``."""
    for each in _PAYERS.values():
        found = each.demand(settings, challenge, now)
        if found is not None:
            return found
    raise ApiError(
        Code.PAYMENT_METHOD_UNSUPPORTED,
        "No protocol this gateway pays with reads this challenge: nothing was paid",
    )
