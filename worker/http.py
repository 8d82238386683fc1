"""The worker's outbound HTTP: one shared httpx client whose every new connection is checked.

The client keeps httpx's API, but its transport is aiohttp's connection pool: httpx's own pool
collapses under a few hundred concurrent requests (encode/httpx#3215) and sends a fraction of
what aiohttp does. The check sits where the pool opens a connection: the resolver the pool calls
resolves the host, checks every address and hands back only checked addresses, which the pool
connects to as they are, so nothing between the check and the connect can re-resolve the name and
DNS rebinding cannot slip a private address past it. Literal addresses never reach a resolver, so
they are checked before the request. TLS still verifies the certificate against the host name.

``GuardedBackend`` is the same check for httpx's own transport (``GuardedTransport``).
"""

import asyncio
import functools
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.settings import Settings
from gateway.webhooks.urls import UrlRefused, check_address, numeric_host, resolve_checked

__all__ = [
    "USER_AGENT",
    "AiohttpTransport",
    "BlockedAddress",
    "GuardedBackend",
    "GuardedResolver",
    "GuardedTransport",
    "Outbound",
    "build_clients",
]

USER_AGENT = "aiTopUp-Webhooks/1"


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


class Refused(Exception):
    """The resolver's refusal, carried through aiohttp untouched (it wraps only ``OSError``)."""


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver seam: only checked addresses ever reach the connector."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await resolve_checked(host, port, allow_loopback=self._allow_loopback)
        except UrlRefused as exc:
            raise Refused(f"blocked: {exc}") from None
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    given: dict[str, float | None] = request.extensions.get("timeout", {})
    return _client_timeout(given.get("connect"), given.get("read"))


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    # No total and no pool limit here: the caller's deadline bounds the whole exchange.
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # the connection goes back to the pool
        else:
            self._response.close()  # unread bytes: the connection is dropped, never drained


class _mapped:
    """aiohttp's errors as the httpx errors callers already handle."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if exc is None or isinstance(exc, httpx.HTTPError | asyncio.CancelledError):
            return
        if isinstance(exc, Refused):
            raise httpx.ConnectError(str(exc)) from None
        if isinstance(exc, aiohttp.ServerTimeoutError):
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            if isinstance(exc.os_error, Refused):
                raise httpx.ConnectError(str(exc.os_error)) from None
            raise httpx.ConnectError(str(exc)) from exc
        if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        if isinstance(exc, aiohttp.ClientResponseError):
            raise httpx.RemoteProtocolError(exc.message or type(exc).__name__) from exc
        if isinstance(exc, aiohttp.ClientError | OSError):
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests over an aiohttp pool whose connections are opened only to checked
    addresses. Bodies are neither decompressed nor drained: the caller reads what it wants."""

    def __init__(self, *, allow_loopback: bool, limits: httpx.Limits) -> None:
        self._allow_loopback = allow_loopback
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._literals: dict[str, str | None] = {}

    def _open(self) -> aiohttp.ClientSession:
        # Built on first use: aiohttp binds its pool to the running event loop.
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            resolver=GuardedResolver(allow_loopback=self._allow_loopback),
            use_dns_cache=False,  # every new connection is resolved, and checked, afresh
            keepalive_timeout=self._limits.keepalive_expiry or 0,
            ssl=httpx.create_ssl_context(trust_env=False),
        )
        return aiohttp.ClientSession(
            connector=connector,
            # A cookie one receiver sets must never ride along to the next request.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def _refusal(self, host: str) -> str | None:
        """Why a literal address is refused (``""`` when it is allowed); ``None`` for a name,
        which the resolver checks when a connection is opened."""
        if host in self._literals:
            return self._literals[host]
        found: str | None = None
        literal = numeric_host(host)
        if literal is not None:
            try:
                check_address(literal, allow_loopback=self._allow_loopback)
                found = ""
            except UrlRefused as exc:
                found = f"blocked: {exc}"
        if len(self._literals) > 10_000:
            self._literals.clear()
        self._literals[host] = found
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        refused = self._refusal(request.url.host)
        if refused:
            raise httpx.ConnectError(refused, request=request)
        if self._session is None:
            self._session = self._open()
        try:
            body = request.content  # read already by a caller that built it from bytes
        except httpx.RequestNotRead:
            body = await request.aread()
        with _mapped():
            response = await self._session.request(
                request.method,
                str(request.url),
                data=body or None,
                headers=[(k.decode(), v.decode()) for k, v in request.headers.raw],
                allow_redirects=False,
                timeout=_timeout(request),
            )
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode(),
            },
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True, slots=True)
class Outbound:
    """An environment's shared client, and the transport under it, which deliveries use
    directly (``delivery.post``). Closing the client closes the transport."""

    client: httpx.AsyncClient
    transport: AiohttpTransport


def _outbound(settings: Settings, *, allow_loopback: bool, max_connections: int) -> Outbound:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30,
    )
    transport = AiohttpTransport(allow_loopback=allow_loopback, limits=limits)
    client = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(settings.webhook_timeout_seconds, connect=5.0),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )
    return Outbound(client, transport)


def build_clients(settings: Settings, *, max_connections: int) -> dict[str, Outbound]:
    """What each environment sends with. Live never reaches loopback; staging may, when
    ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` is set, through a second client. Otherwise both
    environments share one."""
    strict = _outbound(settings, allow_loopback=False, max_connections=max_connections)
    if not settings.allow_private_webhook_urls:
        return {"live": strict, "staging": strict}
    loose = _outbound(settings, allow_loopback=True, max_connections=max_connections)
    return {"live": strict, "staging": loose}
