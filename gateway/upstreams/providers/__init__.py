"""The upstream providers a top-up can be fulfilled through: a module each, and this registry.

A provider offers what a try needs (``Provider``): make the credit, undo what tries left after
the top-up failed for good, and check the merchant's credentials; and what it is to a merchant:
its settings' model (one member of ``PUT /fulfilment``'s body), what of them is saved, its
fields, labels and help on the dashboard's form, and where its recipients redeem.
``topup.fulfilling`` runs a try and records its result as a lifecycle change; the settings, the
API's body and the form read this registry; none of them knows a provider by name. A new
provider is a module offering ``Provider`` and one line in ``_BUILT_IN``.

``register`` adds a provider at run time (a test's made-up upstream) and ``registered`` does so
for the length of a ``with`` block; a name already taken is refused.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Annotated, Any, Protocol

import httpx
from pydantic import Field, RootModel

from ..clients import PROVIDER_UNSET, VOUCHER, UpstreamError
from ..schemas import Redeem, VoucherSet
from ..upstream import Upstream
from .base import (
    CodeStates,
    FormField,
    FormLink,
    KeyFigures,
    Made,
    ReadsCodes,
    ReadsFigures,
    Saved,
    Try,
)
from .newapi import NewApiProvider
from .openrouter import OpenRouterProvider

__all__ = [
    "PROVIDERS",
    "CodeStates",
    "FormField",
    "FormLink",
    "FulfilmentBody",
    "KeyFigures",
    "Made",
    "Provider",
    "ReadsCodes",
    "ReadsFigures",
    "Saved",
    "Try",
    "all_providers",
    "body_model",
    "get",
    "name_of",
    "names",
    "of_body",
    "provider_for",
    "register",
    "registered",
    "unregister",
]


class Provider(Protocol):
    """One upstream: what it is to a merchant, and what a try of it needs. Every call of a try
    may be repeated: a try that died after the upstream answered is tried again, and must not
    credit twice."""

    name: str  # its identifier: the settings' ``provider``, the top-up's fulfilment
    title: str  # as a reader knows it (``New API``)
    body: type[Redeem]  # its settings, as ``PUT /fulfilment`` takes them
    api_root: str | None  # the API root a recipient spends at when none is saved
    form_note: str  # marked: beside its part of the form's title
    fields: tuple[FormField, ...]
    links: tuple[FormLink, ...]

    def settings(self, body: Any) -> Saved:
        """What of ``body`` (its ``body`` model) the store keeps."""
        ...

    def redeem_url(self, base_url: str | None) -> str | None:
        """Where a recipient redeems when the merchant named no address (``base_url``: the
        saved one, if any)."""
        ...

    def quota_rate(self, saved: int | None) -> int | None:
        """The quota a dollar a code of it holds (``saved``: the merchant's); ``None`` for a
        provider without quota."""
        ...

    async def make(self, attempt: Try) -> Made:
        """The credit for ``attempt``'s top-up, made (or found, if an earlier try made it)."""
        ...

    async def undo(self, attempt: Try) -> None:
        """After the top-up failed for good and was refunded: take back what tries left
        upstream, so the recipient cannot spend it. Best effort: logs what it cannot do."""
        ...

    async def check(self, upstream: Upstream, http: httpx.AsyncClient) -> None:
        """One call the credentials must pass; raises ``UpstreamError`` if they do not."""
        ...


# One line per provider.
_BUILT_IN: tuple[Provider, ...] = (
    NewApiProvider(),
    OpenRouterProvider(),
)

PROVIDERS: dict[str, Provider] = {p.name: p for p in _BUILT_IN}


def register(provider: Provider) -> Provider:
    """Offer ``provider`` under its ``name`` from now on; a name taken already is refused."""
    if provider.name == VOUCHER or provider.name in PROVIDERS:
        raise ValueError(f"an upstream is already registered as {provider.name!r}")
    PROVIDERS[provider.name] = provider
    return provider


def unregister(name: str) -> None:
    """Take a provider added by ``register`` away (the built-in ones stay)."""
    if any(p.name == name for p in _BUILT_IN):
        raise ValueError(f"{name!r} is built in")
    PROVIDERS.pop(name, None)


@contextmanager
def registered(provider: Provider) -> Iterator[Provider]:
    """``provider`` registered for the length of the block (a test's made-up upstream)."""
    register(provider)
    try:
        yield provider
    finally:
        unregister(provider.name)


def get(name: str) -> Provider | None:
    """The provider called ``name``, if one is registered."""
    return PROVIDERS.get(name)


def all_providers() -> list[Provider]:
    """Every registered provider, the built-in ones first, then in order of registration."""
    return list(PROVIDERS.values())


def names() -> tuple[str, ...]:
    """Every name a platform's provider may have: the built-in voucher's, then each upstream's."""
    return (VOUCHER, *PROVIDERS)


def name_of(name: str) -> str:
    """A provider as a reader sees it (``New API``); the built-in voucher by its identifier."""
    found = PROVIDERS.get(name)
    return found.title if found is not None else name


def provider_for(name: str) -> Provider:
    """The provider called ``name``; a name no module offers fails the try for good."""
    found = PROVIDERS.get(name)
    if found is None:
        raise UpstreamError(name, PROVIDER_UNSET, transient=False)
    return found


def of_body(body: Redeem) -> Provider:
    """The provider whose settings ``body`` is."""
    for provider in PROVIDERS.values():
        if type(body) is provider.body:
            return provider
    raise LookupError(f"no upstream takes {type(body).__name__}")


def body_model() -> type[RootModel[Any]]:
    """``PUT /fulfilment/{platform}``'s body as the registry stands: the voucher, or one
    provider's settings, by ``provider``."""
    return _body_model(tuple(p.body for p in PROVIDERS.values()))


@cache
def _body_model(bodies: tuple[type[Redeem], ...]) -> type[RootModel[Any]]:
    union: Any = VoucherSet
    for body in bodies:
        union = union | body
    members: Any = Annotated[union, Field(discriminator="provider")]

    class FulfilmentBody(RootModel[members]):
        """``PUT /fulfilment/{platform}``: one of the providers, by ``provider``."""

    return FulfilmentBody


# The body of the built-in providers: the one the API's document shows.
FulfilmentBody = body_model()
