"""The one reach into httpx and httpcore for upstream calls: an httpx transport whose every
connection goes to an address judged by the webhook URL check, at the moment of connecting.

httpx's ``AsyncHTTPTransport`` takes no network backend, so its connection pool (``_pool``) is
replaced by httpcore's own pool over ``CheckedBackend``. ``tests/gateway/upstreams/
test_transport.py`` fails if either library moves (a refused address must stay refused), and
``pyproject.toml`` bounds their versions.
"""

from typing import Any

import httpcore
import httpx

from ..webhooks.urls import UrlRefused, resolve_checked

__all__ = ["CheckedBackend", "checked_transport"]


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves a host, refuses it unless every address is allowed, and connects to the
    address that was checked (so DNS rebinding cannot slip past); TLS still names the host."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve_checked(host, port, allow_loopback=self._allow_loopback)
        except UrlRefused as exc:
            raise httpcore.ConnectError(f"blocked: {exc}") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("blocked: no unix sockets upstream")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def checked_transport(
    *, allow_loopback: bool, max_connections: int = 100
) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
        network_backend=CheckedBackend(allow_loopback=allow_loopback),
    )
    return transport
