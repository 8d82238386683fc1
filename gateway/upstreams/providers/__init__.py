"""The upstream providers a top-up can be fulfilled through: a module each, and this registry.

A provider offers what a try needs (``Provider``): make the credit, undo what tries left after
the top-up failed for good, and check the merchant's credentials. ``topup.fulfilling`` runs a
try and records its result as a lifecycle change; it knows no provider by name. A new provider
is a module offering ``Provider`` and one line in ``PROVIDERS``.
"""

from collections.abc import Mapping
from typing import Protocol

import httpx

from ..clients import NEWAPI, OPENROUTER, PROVIDER_UNSET, UpstreamError
from ..upstream import Upstream
from . import newapi, openrouter
from .base import Made, Try

__all__ = ["PROVIDERS", "Made", "Provider", "Try", "provider_for"]


class Provider(Protocol):
    """What a try of one provider needs. Every call may be repeated: a try that died after the
    upstream answered is tried again, and must not credit twice."""

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


PROVIDERS: Mapping[str, Provider] = {
    NEWAPI: newapi.NewApiProvider(),
    OPENROUTER: openrouter.OpenRouterProvider(),
}


def provider_for(name: str, providers: Mapping[str, Provider] = PROVIDERS) -> Provider:
    """The provider called ``name``; a name no module offers fails the try for good."""
    found = providers.get(name)
    if found is None:
        raise UpstreamError(name, PROVIDER_UNSET, transient=False)
    return found
