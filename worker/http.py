"""The worker's outbound HTTP: one shared httpx client per environment whose every new
connection is checked, over the checked transport (``gateway.webhooks.transport``, on the
connections of ``gateway.webhooks.connections``), which the gateway's upstream calls share."""

from dataclasses import dataclass

import httpx

from gateway.values.public_base import public_base
from gateway.values.settings import Settings
from gateway.webhooks.connections import HeadLimits
from gateway.webhooks.transport import WebhookTransport

__all__ = ["USER_AGENT", "Outbound", "build_clients", "head_limits"]

USER_AGENT = "aiTopUp-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Outbound:
    """An environment's shared client, and the transport under it, which deliveries use
    directly (``delivery.post``). Closing the client closes the transport."""

    client: httpx.AsyncClient
    transport: httpx.AsyncBaseTransport


def _client(settings: Settings, transport: httpx.AsyncBaseTransport) -> Outbound:
    """The client over ``transport``, for what is sent with httpx's API rather than as a
    delivery (which goes to the transport directly). Each setting acts on every request it
    sends: the transport reads the connect timeout, and the read timeout as the bound on the
    whole exchange, so there is no write or pool timeout to set; a redirect is the receiver's
    answer, never followed (httpx's default, pinned here). Proxies from the environment, TLS
    and connection limits are the transport's: ``trust_env`` and ``limits`` do nothing on a
    client given a transport, and are not passed."""
    client = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(None, connect=5.0, read=settings.webhook_timeout_seconds),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )
    return Outbound(client, transport)


def head_limits(settings: Settings) -> HeadLimits:
    return HeadLimits(
        line=settings.webhook_max_response_line_bytes,
        count=settings.webhook_max_response_headers,
        size=settings.webhook_max_response_header_bytes,
    )


def _checked(
    settings: Settings,
    *,
    allow_loopback: bool,
    max_connections: int,
    own_inbox_base: str | None = None,
) -> WebhookTransport:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30,
    )
    return WebhookTransport(
        allow_loopback=allow_loopback,
        limits=limits,
        head_limits=head_limits(settings),
        own_inbox_base=own_inbox_base,
    )


def build_clients(
    settings: Settings,
    *,
    max_connections: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Outbound]:
    """What each environment sends with, a client each. Live never reaches loopback; staging
    may, when ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` is set, and always reaches its test inbox
    on this gateway's public base URL, wherever that resolves (``urls.is_own_inbox``), which
    live never does.

    A ``transport`` given (``httpx.MockTransport``, respx, ``ASGITransport``) replaces the
    worker's own for both environments, and ``max_connections`` with it: the address check lives
    in ``WebhookTransport``, so whoever stands one in opts out of that check (SSRF, DNS
    rebinding) along with it. Only tests do. Closing the client closes it, as it would the
    worker's own."""
    if transport is not None:
        shared = _client(settings, transport)
        return {"live": shared, "staging": shared}
    strict = _client(
        settings, _checked(settings, allow_loopback=False, max_connections=max_connections)
    )
    staging = _checked(
        settings,
        allow_loopback=settings.allow_private_webhook_urls,
        max_connections=max_connections,
        own_inbox_base=public_base(settings),
    )
    return {"live": strict, "staging": _client(settings, staging)}
