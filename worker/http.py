"""The worker's outbound HTTP: one shared httpx client whose every new connection is checked.

The check sits in the httpcore network backend, under the connection pool: the host is resolved
there, every address is checked, and the socket is opened to the checked address itself. Nothing
between the check and the connect can re-resolve the name, so DNS rebinding cannot slip a private
address past it, and TLS still verifies the certificate against the original host name.
"""

import asyncio
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from gateway.settings import Settings
from gateway.webhooks.urls import UrlRefused, resolve_checked

__all__ = ["BlockedAddress", "GuardedBackend", "GuardedTransport", "build_clients"]


class BlockedAddress(httpcore.ConnectError):
    """Raised instead of connecting; httpx reports it as a ``ConnectError``."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, *, allow_loopback: bool, inner: httpcore.AsyncNetworkBackend | None = None):
        self._allow_loopback = allow_loopback
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve_checked(host, port, allow_loopback=self._allow_loopback)
        except UrlRefused as exc:
            raise BlockedAddress(f"blocked: {exc}") from None
        except TimeoutError:
            raise httpcore.ConnectTimeout("timed out resolving the host") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("blocked: unix sockets are never a webhook target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its error mapping, its pool), over the guarded backend."""

    def __init__(self, *, allow_loopback: bool, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_loopback=allow_loopback),
        )


def _client(settings: Settings, *, allow_loopback: bool, max_connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30,
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_loopback=allow_loopback, limits=limits),
        timeout=httpx.Timeout(settings.webhook_timeout_seconds, connect=5.0),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "aiTopUp-Webhooks/1"},
    )


def build_clients(settings: Settings, *, max_connections: int) -> dict[str, httpx.AsyncClient]:
    """The client each environment sends with. Live never reaches loopback; staging may, when
    ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` is set, through a second client. Otherwise both
    environments share one."""
    strict = _client(settings, allow_loopback=False, max_connections=max_connections)
    if not settings.allow_private_webhook_urls:
        return {"live": strict, "staging": strict}
    loose = _client(settings, allow_loopback=True, max_connections=max_connections)
    return {"live": strict, "staging": loose}
