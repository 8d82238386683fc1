"""The payment channels a wallet is funded through: a module each, and this registry.

A channel is one ``Provider`` (``providers.base``) and one line in ``_BUILT_IN`` below; nothing
else in the product names it. Orders, the ledger, events, receipts and reconciliation are one code
path for every channel (``billing.orders``, ``billing.settling.notices``,
``billing.settling.reconcile``); which channels a merchant is offered is the operator's, per
environment (``billing.channels.offering``). The channel of a payment protocol agents speak (an
agent's 402) is registered with its protocol by the protocols' registry
(``gateway.protocols.registry``).

``register`` adds a provider at run time (a plug-in, or a test's made-up channel) and
``registered`` does so for the length of a ``with`` block; a name already taken is refused, so
no module replaces another by accident.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .providers import base, calls, credentials, errors, messages
from .providers.base import *  # noqa: F403  # the interface, whole: each piece's ``__all__``
from .providers.base import Provider
from .providers.calls import *  # noqa: F403
from .providers.credentials import *  # noqa: F403
from .providers.creem import CREEM, CreemCredentials, CreemProvider
from .providers.epay import EpayProvider
from .providers.errors import *  # noqa: F403
from .providers.messages import *  # noqa: F403
from .providers.myfatoorah import MYFATOORAH, MyFatoorahCredentials, MyFatoorahProvider
from .providers.sandbox import SANDBOX, SandboxProvider
from .providers.stripe_checkout import STRIPE, StripeCredentials, StripeProvider

__all__ = [
    "CREEM",
    "MYFATOORAH",
    "SANDBOX",
    "STRIPE",
    "CreemCredentials",
    "MyFatoorahCredentials",
    "StripeCredentials",
    "all_providers",
    "default",
    "for_order",
    "get",
    "is_stand_in",
    "register",
    "registered",
    "unregister",
]
__all__ += [*base.__all__, *calls.__all__, *credentials.__all__, *errors.__all__]
__all__ += messages.__all__

# One line per provider.
_BUILT_IN: tuple[Provider[Any], ...] = (
    SandboxProvider(),
    StripeProvider(),
    EpayProvider(),
    MyFatoorahProvider(),
    CreemProvider(),
)

_PROVIDERS: dict[str, Provider[Any]] = {}


def register(provider: Provider[Any]) -> Provider[Any]:
    """Offer ``provider`` under its ``name`` from now on; a name taken already is refused."""
    name = provider.name
    if not name or not name.replace("_", "").isalnum() or name != name.lower() or len(name) > 30:
        raise ValueError(f"a channel's name is 1 to 30 of a-z, 0-9 and _: {name!r}")
    if name in _PROVIDERS:
        raise ValueError(f"a provider is already registered as {name!r}")
    _PROVIDERS[name] = provider
    return provider


def unregister(name: str) -> None:
    """Take a provider added by ``register`` away (the built-in ones stay)."""
    if any(p.name == name for p in _BUILT_IN):
        raise ValueError(f"{name!r} is built in")
    _PROVIDERS.pop(name, None)


@contextmanager
def registered(provider: Provider[Any]) -> Iterator[Provider[Any]]:
    """``provider`` registered for the length of the block (a test's made-up channel)."""
    register(provider)
    try:
        yield provider
    finally:
        unregister(provider.name)


def get(name: str) -> Provider[Any] | None:
    """The provider called ``name``, if one is registered."""
    return _PROVIDERS.get(name)


def all_providers() -> list[Provider[Any]]:
    """Every registered provider, the built-in ones first, then in order of registration."""
    return list(_PROVIDERS.values())


def default(env: str) -> str:
    """The channel a payment goes through when none is named: the sandbox in staging,
    Stripe in live."""
    return SANDBOX if env == "staging" else STRIPE


def is_stand_in(name: str) -> bool:
    """Whether ``name`` is the staging sandbox's (``Provider.stands_in``)."""
    found = _PROVIDERS.get(name)
    return found is not None and found.stands_in


def for_order(order: Any) -> Provider[Any] | None:
    """The provider that takes an order's money: the sandbox for a sandbox order whatever
    channel it stands in for, else the order's channel (an order written before channels
    existed names only its provider)."""
    if order.provider == SANDBOX:
        return _PROVIDERS[SANDBOX]
    return _PROVIDERS.get(getattr(order, "channel", None) or order.provider)


for _provider in _BUILT_IN:
    register(_provider)
