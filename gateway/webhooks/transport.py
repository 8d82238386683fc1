"""The checked outbound transport: HTTP/1.1 under httpx's API, every connection opened only to
an address the webhook URL check allows, at the moment of connecting. The worker's webhook POSTs
(``worker.http``) and the gateway's upstream calls (``gateway.upstreams.outbound``) go out on it.

httpx's own pool (httpcore's) collapses under a few dozen concurrent requests (encode/httpx#3215:
each request walks every connection and polls each idle socket), and aiohttp's client spent more
CPU per POST than the rest of a delivery together.

The check sits where a connection is opened: the host is resolved, every address it resolves to
is checked, and only a checked address is connected to, so nothing between the check and the
connect can re-resolve the name and DNS rebinding cannot slip a private address past it. A kept
connection goes back only to requests for the same scheme, host and port. TLS still verifies the
certificate against the host name.

The worker's deliveries, which write every header line themselves, send with ``post``: the same
exchange as an httpx request's, without an ``httpx.Request`` and ``httpx.Response`` around it.

A staging transport given the gateway's own public base URL (``own_inbox_base``) reaches the
test inbox there unjudged (``urls.is_own_inbox`` says why), on connections of their own: a
connection opened for the inbox never carries another request.
"""

import asyncio
import functools
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx

from ..values.tls import verifying
from .connections import Connection, Deadlines, HeadLimits, Key, Pool
from .shares import Shares
from .urls import (
    UrlRefused,
    check_port,
    is_own_inbox,
    parse_webhook_url,
    resolve_checked,
    resolve_own,
)

__all__ = ["SEND_BY", "SHARE", "Reply", "TooLate", "WebhookTransport"]

# A request's extension naming whose share of the pool it is sent in (``shares``).
SHARE = "aitopup.share"
# A request's extension: the latest moment (seconds since the epoch) its first byte may be
# written. A throttled delivery's slot is judged there, after every wait for a share, a pool
# slot and a connection, since a receiver counts what arrives, not what was meant to
# (``webhooks.throttle``).
SEND_BY = "aitopup.send_by"


class TooLate(Exception):
    """Nothing was written: the request's ``SEND_BY`` passed before its connection was ready.
    Not an ``httpx`` error, so no caller takes it for a failed exchange."""


_PORTS = {"http": 80, "https": 443}
# Methods whose request has a body, so a ``Content-Length: 0`` is still sent without one.
_WITH_BODY = frozenset({b"POST", b"PUT", b"PATCH"})
# Written by the transport itself: the body is always sent whole, with its length.
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection", b"keep-alive"})
_FRAMING_NAMES = frozenset(name.decode() for name in _FRAMING)
# The most URLs ``post`` keeps parsed: far more endpoints than one worker sends to in a while.
_TARGETS_KEPT = 4096


def _origin_key(base: str | None) -> Key | None:
    """The scheme, host and port of the gateway's public base URL, as a request's are compared
    with it; ``None`` without one, or one that is no http(s) URL."""
    if base is None:
        return None
    try:
        parsed = parse_webhook_url(base)
    except UrlRefused:
        return None
    return parsed.scheme, parsed.host.lower(), parsed.port


def _head(method: bytes, target: bytes, lines: list[bytes], length: int) -> bytes:
    """The request line and headers (``lines``, each ``name: value`` and its line end). A
    header holding a line break would end the head early and let what follows pass for headers
    of its own: counted, each line has exactly one."""
    block = b"".join(lines)
    if block.count(b"\n") != len(lines) or block.count(b"\r") != len(lines):
        raise httpx.LocalProtocolError("a header name or value holds a line break")
    start = b"%s %s HTTP/1.1\r\n" % (method, target)
    if length or method in _WITH_BODY:
        return start + block + b"Content-Length: %d\r\n\r\n" % length
    return start + block + b"\r\n"


@dataclass(frozen=True, slots=True)
class _Target:
    """What sending to one URL needs of it, worked out once (``WebhookTransport._target``):
    where it connects, whether it is the gateway's own test inbox, its ``Host`` header's line
    and its request target."""

    key: Key
    own: bool
    host_line: bytes
    path: bytes


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; closing it returns the connection to the pool if the
    exchange ended cleanly, and drops it otherwise (a body not read to its end is never
    drained)."""

    def __init__(
        self,
        transport: "WebhookTransport",
        connection: Connection,
        deadline: float | None,
        share: str | None,
    ) -> None:
        self._transport = transport
        self._connection = connection
        self._deadline = deadline
        self._share = share
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._connection.read(self._deadline)) is not None:
            yield chunk

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._transport.release(self._connection, self._share)


@dataclass(slots=True)
class Reply:
    """A response to ``WebhookTransport.post``: its status, its header lines as they came, and
    its body, whose ``aclose`` gives the connection back (as closing an httpx response does)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: httpx.AsyncByteStream


class WebhookTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over kept-alive connections, each opened only to a checked address.

    The read timeout bounds the whole exchange, from the request's start to the response's last
    byte, not each read as in httpx's own transport: a receiver that trickles bytes, or a slow
    connect, cannot hold an attempt past it. The connect timeout also bounds the connect alone.
    At most ``limits.max_connections`` exchanges run at once; a request beyond that waits for a
    slot (before its clock starts). A response head past ``head_limits`` fails the exchange
    (``HeadTooLarge``). Bodies are neither decompressed nor drained: the caller reads what it
    wants. ``resend``: a request whose kept connection was closed before any reply goes once
    more on a new connection. ``shares``: a request whose ``SHARE`` extension names a merchant
    first waits for one of that merchant's slots (``Shares``), and fails (``httpx.PoolTimeout``)
    if none comes free within the shares' hold; the slot is held until the response is closed."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        limits: httpx.Limits,
        head_limits: HeadLimits | None = None,
        ssl_context: ssl.SSLContext | None = None,
        resend: bool = True,
        shares: Shares | None = None,
        own_inbox_base: str | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._own_inbox_base = own_inbox_base
        self._own_origin = _origin_key(own_inbox_base)
        self._shares = shares
        self._resend = resend
        self._head_limits = head_limits or HeadLimits()
        self._ssl = ssl_context or verifying()
        self._slots = asyncio.Semaphore(limits.max_connections or 1_000_000)
        self._deadlines = Deadlines()
        self._pool = Pool(
            max_idle=limits.max_keepalive_connections or 0,
            expiry=limits.keepalive_expiry or 0.0,
        )
        # Connections to the gateway's own test inbox, apart from every other.
        self._own_pool = Pool(max_idle=4, expiry=limits.keepalive_expiry or 0.0)
        # ``post``'s URLs, each parsed and judged once: an endpoint's is the same every time.
        self._target_of = functools.lru_cache(maxsize=_TARGETS_KEPT)(self._parsed_target)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        target = self._target(url)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        try:
            body = request.content  # read already by a caller that built it from bytes
        except httpx.RequestNotRead:
            body = await request.aread()
        lines = [
            b"%s: %s\r\n" % item for item in request.headers.raw if item[0].lower() not in _FRAMING
        ]
        head = _head(request.method.encode("ascii"), url.raw_path, lines, len(body))
        share: str | None = request.extensions.get(SHARE) if self._shares is not None else None
        connection, deadline = await self._open(
            target,
            head,
            body,
            timeouts.get("connect"),
            timeouts.get("read"),
            share=share,
            send_by=request.extensions.get(SEND_BY),
        )
        return httpx.Response(
            connection.status,
            headers=connection.headers,
            stream=_Body(self, connection, deadline, share),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
            request=request,
        )

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect: float | None,
        read: float | None,
        send_by: float | None = None,
    ) -> Reply:
        """A POST of ``body`` to ``url`` as ``handle_async_request`` sends one, without httpx's
        request and response around it: the worker's deliveries, whose header lines are all
        theirs to write (``headers``, sent as UTF-8). ``Host`` and ``Content-Length`` are the
        transport's. Timeouts and ``send_by`` as a request's ``timeout`` and ``SEND_BY``
        extensions say them."""
        target = self._target_of(url)
        # Each line written as text and encoded once, not each name and value on its own.
        text = [
            f"{name}: {value}\r\n"
            for name, value in headers.items()
            if name.lower() not in _FRAMING_NAMES
        ]
        lines = [target.host_line, *map(str.encode, text)]
        head = _head(b"POST", target.path, lines, len(body))
        connection, deadline = await self._open(
            target, head, body, connect, read, share=None, send_by=send_by
        )
        return Reply(connection.status, connection.headers, _Body(self, connection, deadline, None))

    def _parsed_target(self, url: str) -> _Target:
        return self._target(httpx.URL(url))

    def _target(self, url: httpx.URL) -> _Target:
        """Where ``url`` connects, or why it may not: only http(s), on a port that can be one."""
        port = _PORTS.get(url.scheme)
        if port is None:
            raise httpx.UnsupportedProtocol(f"cannot send to a {url.scheme!r} URL")
        try:
            check_port(url.port)  # 0 is not the scheme's port, nor 70000 any port
        except UrlRefused as exc:
            raise httpx.ConnectError(f"blocked: {exc}") from None
        key = (url.scheme, url.host, url.port or port)
        # Only a URL of the gateway's own origin may be its inbox: the whole check (two URLs
        # parsed) is made for those alone, not on every delivery.
        own = (
            self._own_origin is not None
            and (url.scheme, url.host.rstrip(".").lower(), key[2]) == self._own_origin
            and is_own_inbox(str(url), self._own_inbox_base)
        )
        return _Target(key, own, b"Host: %s\r\n" % url.netloc, url.raw_path)

    async def _open(
        self,
        target: _Target,
        head: bytes,
        body: bytes,
        connect: float | None,
        read: float | None,
        *,
        share: str | None,
        send_by: float | None,
    ) -> tuple[Connection, float | None]:
        """The exchange's slots taken, the request sent and its response's head read: the
        connection it is read on, and the deadline (the event loop's clock) of the rest."""
        shares = self._shares
        if shares is not None and share is not None and not await shares.acquire(share):
            raise httpx.PoolTimeout("too many exchanges of this merchant's in flight")
        try:
            await self._slots.acquire()
        except BaseException:
            self._release_share(share)
            raise
        deadline = None if read is None else asyncio.get_running_loop().time() + read
        try:
            connection = await self._exchange(
                target.key, head, body, connect, deadline, own=target.own, send_by=send_by
            )
        except BaseException:
            self._slots.release()
            self._release_share(share)
            raise
        return connection, deadline

    async def _exchange(
        self,
        key: Key,
        head: bytes,
        body: bytes,
        connect_timeout: float | None,
        deadline: float | None,
        *,
        own: bool = False,
        send_by: float | None = None,
    ) -> Connection:
        pool = self._own_pool if own else self._pool
        kept = pool.take(key)
        if kept is not None:
            _in_time(pool, kept, send_by)
            try:
                await kept.exchange(head, body, deadline)
                return kept
            except (httpx.ReadError, httpx.RemoteProtocolError):
                kept.abort()
                if kept.received or not self._resend:
                    raise
                # The server closed the kept connection as the request went out, before a byte of
                # reply (an idle timeout racing the reuse): the request goes once more, on a new
                # connection, as browsers do. At worst the receiver sees it twice, which the
                # stable ``webhook-id`` already covers. ``resend=False`` (an upstream's create,
                # which has no such id) fails it instead, for the caller's own safe retry.
            except BaseException:
                kept.abort()
                raise
        if deadline is not None:
            left = deadline - asyncio.get_running_loop().time()
            connect_timeout = left if connect_timeout is None else min(connect_timeout, left)
        connection = await self._connect(key, connect_timeout, own=own)
        _in_time(pool, connection, send_by)
        try:
            await connection.exchange(head, body, deadline)
        except BaseException:
            connection.abort()
            raise
        return connection

    async def _connect(self, key: Key, timeout: float | None, *, own: bool = False) -> Connection:  # noqa: ASYNC109 (httpx's connect timeout)
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls = self._ssl if scheme == "https" else None
        last: httpx.TransportError | None = None
        try:
            async with asyncio.timeout(timeout):
                try:
                    if own:
                        addresses = await resolve_own(host, port)
                    else:
                        addresses = await resolve_checked(
                            host, port, allow_loopback=self._allow_loopback
                        )
                except UrlRefused as exc:
                    raise httpx.ConnectError(f"blocked: {exc}") from None
                for address in addresses:
                    try:
                        _, connection = await loop.create_connection(
                            lambda: Connection(key, self._deadlines, self._head_limits),
                            str(address),
                            port,
                            ssl=tls,
                            server_hostname=host if tls else None,
                        )
                        connection.own = own
                        return connection
                    except OSError as exc:  # ssl.SSLError included: a bad certificate
                        last = httpx.ConnectError(str(exc) or type(exc).__name__)
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting") from None
        assert last is not None  # resolve_checked returns at least one address
        raise last

    def release(self, connection: Connection, share: str | None = None) -> None:
        """A response is closed: its connection is kept or dropped, and its slots freed."""
        (self._own_pool if connection.own else self._pool).put(connection)
        self._slots.release()
        self._release_share(share)

    def _release_share(self, share: str | None) -> None:
        if share is not None and self._shares is not None:
            self._shares.release(share)

    async def aclose(self) -> None:
        self._pool.close()
        self._own_pool.close()
        self._deadlines.close()


def _in_time(pool: Pool, connection: Connection, send_by: float | None) -> None:
    """Past ``send_by``, the connection goes back unused, ready for the request's next try, which
    then needs no connect of its own."""
    if send_by is not None and time.time() > send_by:
        pool.put(connection)
        raise TooLate
