"""The httpx clients upstream calls go out on, one per environment, over the checked transport
the worker's webhooks use (``webhooks.transport``): every connection to an address the webhook
URL check allows, at the moment of connecting, and a pool that stays cheap under many
concurrent calls (httpx's own walked every connection for each request). Live never reaches
loopback or private networks; staging may, with ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS``
(development only), as for webhooks. The read timeout bounds each call whole. A call whose kept
connection closed before any reply is not sent again: New API's create has no idempotency key,
and the try's own retry asks for the code first.

Each merchant's calls hold at most a share of a pool (``fulfilment_merchant_connections``,
``webhooks.shares``), as its webhook deliveries do of the worker's: one merchant's slow upstream
holds that share and no more. A call that finds its merchant's share taken waits for a slot at
most one call's timeout, then fails as a transient failure. Answers are asked for as they are
(``Accept-Encoding: identity``): their bytes are counted as sent (``webhooks.bodies``)."""

from dataclasses import dataclass

import httpx

from ..values.settings import Settings
from ..webhooks.shares import Shares
from ..webhooks.transport import WebhookTransport

__all__ = ["USER_AGENT", "Upstreams", "checked_transport", "open_upstreams"]

USER_AGENT = "aiTopUp-fulfilment/1"
MAX_CONNECTIONS = 100  # per environment, across upstreams


def checked_transport(settings: Settings, *, allow_loopback: bool) -> WebhookTransport:
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=MAX_CONNECTIONS,
        keepalive_expiry=30,
    )
    shares = Shares(
        settings.fulfilment_merchant_connections(MAX_CONNECTIONS),
        hold=settings.fulfilment_timeout_seconds,
    )
    return WebhookTransport(
        allow_loopback=allow_loopback, limits=limits, resend=False, shares=shares
    )


@dataclass(frozen=True, slots=True)
class Upstreams:
    live: httpx.AsyncClient
    staging: httpx.AsyncClient

    def for_env(self, env: str) -> httpx.AsyncClient:
        return self.live if env == "live" else self.staging

    async def aclose(self) -> None:
        await self.live.aclose()
        if self.staging is not self.live:
            await self.staging.aclose()


def _client(settings: Settings, transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(settings.fulfilment_timeout_seconds, connect=5.0),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


def open_upstreams(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Upstreams:
    """The clients for ``settings``. A ``transport`` given (respx, a mock) replaces the checked
    one for both environments, and its address check with it: only tests do."""
    if transport is not None:
        shared = _client(settings, transport)
        return Upstreams(shared, shared)
    strict = _client(settings, checked_transport(settings, allow_loopback=False))
    if not settings.allow_private_webhook_urls:
        return Upstreams(strict, strict)
    return Upstreams(strict, _client(settings, checked_transport(settings, allow_loopback=True)))
