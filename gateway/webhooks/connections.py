"""HTTP/1.1 connections for the checked transport (webhook POSTs, upstream calls), and the
keep-alive pool that holds them.

A connection is an asyncio protocol whose responses httptools parses (llhttp, Node's parser, as
uvicorn uses it). It carries one exchange at a time, and only what a webhook needs: a request
written whole, a response head, then its body as it arrives. No redirects, decompression, cookies,
proxies or upgrades: the caller decides all of that, and none of it is wanted here. That narrow
job is why it is cheap: measured against aiohttp's client in the same process and loop, with the
same httpx objects around it, a POST costs about a third of the CPU.

A response's head is held whole until it ends, so how much of it is read is capped
(``HeadLimits``): past a cap the exchange fails with ``HeadTooLarge`` and the connection is
dropped, whatever the receiver meant to send. The body is the caller's to cap as it reads it.

Errors are httpx's, as every caller of an httpx transport expects.
"""

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import cast

import httptools
import httpx

__all__ = ["Connection", "Deadlines", "HeadLimits", "HeadTooLarge", "Key", "Pool"]

Key = tuple[str, str, int]  # scheme, host, port

# Body bytes held for a reader before the socket stops being read: a receiver that streams 50 MB
# fills this and then waits, and the caller, which reads at most a few KiB, closes it.
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024


class _Unsolicited(Exception):
    """Raised from a parser callback to stop it at a response nobody asked for."""


class HeadTooLarge(httpx.RemoteProtocolError):
    """A response's head went past one of its caps (``HeadLimits``); the connection is dropped."""


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """How much of a response's head a connection reads.

    Without caps a receiver decides how much of the worker's memory an attempt takes (a head is
    held whole, then parsed, stored with the attempt and served back by the delivery log), and
    a process's memory does not shrink back after a few large ones."""

    line: int = 8 * 1024  # the status line's reason phrase
    count: int = 100  # header lines
    size: int = 64 * 1024  # header names and values, together

    @property
    def wire(self) -> int:
        """The most bytes that may arrive before the head ends: a head within the caps, with
        room for each line's separator, spaces and line end. It bounds what the parser holds
        of a line not yet finished; interim replies (``100 Continue``) count too, so an endless
        stream of them is cut off like one endless header."""
        return 64 + self.line + self.size + 8 * self.count


class Deadlines:
    """Waits that must end by a deadline, checked together every ``TICK`` seconds.

    One timer for all of them rather than one a wait: a timer per request, made and cancelled,
    cost a visible share of a delivery's CPU, and a webhook's timeout is seconds, so firing up to
    a tick late does not matter."""

    TICK = 0.05

    def __init__(self) -> None:
        self._waiting: dict[asyncio.Future[None], float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, waiter: asyncio.Future[None], deadline: float) -> None:
        self._waiting[waiter] = deadline
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.TICK, self._check)

    def discard(self, waiter: asyncio.Future[None]) -> None:
        self._waiting.pop(waiter, None)

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for waiter, deadline in list(self._waiting.items()):
            if deadline <= now:
                del self._waiting[waiter]
                if not waiter.done():
                    waiter.set_exception(httpx.ReadTimeout("timed out waiting for the response"))
        self._timer = loop.call_later(self.TICK, self._check) if self._waiting else None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Connection(asyncio.Protocol):
    """One connection; ``exchange`` sends a request and waits for its head, ``read`` the body."""

    def __init__(self, key: Key, deadlines: Deadlines, limits: HeadLimits) -> None:
        self.key = key
        self._deadlines = deadlines
        self._limits = limits
        self.idle_since = 0.0
        self.closed = False
        # Opened for the gateway's own test inbox (``transport``): pooled apart from the rest.
        self.own = False
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._busy = False
        self._clear()

    def _clear(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.received = False  # any byte of this exchange's response
        self._head = False
        self._head_bytes = 0  # received while the head was not yet whole
        self._header_bytes = 0  # header names and values of the head being read
        self._interim = False
        self._until_eof = False
        self._complete = False
        self._keep_alive = False
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._error: httpx.TransportError | None = None

    # The event loop's side.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy:
            # Bytes no request asked for: whatever the server meant, this connection is done.
            self.abort()
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Unsolicited):
                # The response already read stands; only the connection is dropped.
                self._fail(httpx.RemoteProtocolError("data after the response"))
            elif isinstance(cause, HeadTooLarge):
                self._fail(cause.with_traceback(None))  # its frames hold the header read
            else:
                self._fail(httpx.RemoteProtocolError(f"malformed response: {exc}"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed response: {exc}"))
        if not self._head and self._error is None:
            # The parser holds a header line it has not finished in full; counting what arrives
            # bounds that too, however the receiver splits its lines.
            self._head_bytes += len(data)
            if self._head_bytes > self._limits.wire:
                self._fail(
                    HeadTooLarge(f"response headers too large: more than {self._limits.wire} bytes")
                )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._busy or self._complete or self._error is not None:
            return
        if exc is None and self._head and self._until_eof:
            self._complete = True  # a body without a length ends where the connection does
        elif exc is not None:
            self._error = httpx.ReadError(str(exc) or type(exc).__name__)
        else:
            self._error = httpx.RemoteProtocolError("server disconnected before a full response")
        self._wake()

    # httptools' callbacks.

    def on_message_begin(self) -> None:
        if self._complete:  # a second response nobody asked for: the connection is not trusted
            raise _Unsolicited

    def on_status(self, reason: bytes) -> None:
        self.reason += reason
        if len(self.reason) > self._limits.line:
            raise HeadTooLarge(
                f"response status line too long: more than {self._limits.line} bytes"
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) == self._limits.count:
            raise HeadTooLarge(
                f"response headers too large: more than {self._limits.count} headers"
            )
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self._limits.size:
            raise HeadTooLarge(f"response headers too large: more than {self._limits.size} bytes")
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim reply (100 Continue, 103): the real one follows
            self._interim = True
            self.headers, self.reason, self._header_bytes = [], b"", 0
            return
        self.status = status
        self._head = True
        self._until_eof = not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        # Asked here: once the callback returns, the parser is reset for the next message.
        self._keep_alive = self._parser.should_keep_alive()
        self._complete = True
        self._wake()

    # The caller's side.

    async def exchange(self, head: bytes, body: bytes, deadline: float | None) -> None:
        """Send a request and wait for its response's head (``status``, ``reason``, ``headers``)
        until ``deadline`` (the event loop's clock)."""
        if self.closed or self._transport is None or self._transport.is_closing():
            raise httpx.RemoteProtocolError("connection closed")
        self._busy = True
        self._transport.write(head + body)
        while not self._head:
            if self._error is not None:
                raise self._error
            if self._complete:  # only an interim reply, then the end: not a response
                raise httpx.RemoteProtocolError("no final response")
            await self._wait(deadline)

    async def read(self, deadline: float | None) -> bytes | None:
        """The body's next bytes as they came, until ``deadline``; ``None`` at its end."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < LOW_WATER and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
                return chunk
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            await self._wait(deadline)

    def reusable(self) -> bool:
        """Whether the exchange ended cleanly, read to its end, on a connection kept alive; or
        none was begun on it since it opened or was last released."""
        if not self._busy:
            return not self.closed and self._error is None
        return (
            self._complete
            and not self._chunks
            and not self.closed
            and self._error is None
            and self._keep_alive
        )

    def release(self) -> None:
        """Ready for the next exchange."""
        self._busy = False
        self._clear()

    def abort(self) -> None:
        """Drop the connection at once, unread bytes and all: it is never drained."""
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, error: httpx.TransportError) -> None:
        self._error = error
        self.abort()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, deadline: float | None) -> None:
        loop = asyncio.get_running_loop()
        if deadline is not None and deadline <= loop.time():
            raise httpx.ReadTimeout("timed out waiting for the response")
        waiter = self._waiter = loop.create_future()
        if deadline is not None:
            self._deadlines.add(waiter, deadline)
        try:
            await waiter
        finally:
            self._waiter = None
            self._deadlines.discard(waiter)


class Pool:
    """Idle keep-alive connections by (scheme, host, port), newest first.

    At most ``max_idle`` wait in all; each is dropped once idle for ``expiry`` seconds, or as soon
    as the server closes it."""

    def __init__(self, *, max_idle: int, expiry: float) -> None:
        self._idle: dict[Key, list[Connection]] = {}
        self._count = 0
        self._max_idle = max_idle
        self._expiry = expiry
        self._swept = time.monotonic()
        self._closed = False

    def take(self, key: Key) -> Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._count -= 1
            if self._usable(connection, now):
                return connection
            connection.abort()
        return None

    def _usable(self, connection: Connection, now: float) -> bool:
        """Still open at the server's end, and not idle past ``expiry``."""
        return not connection.closed and now - connection.idle_since < self._expiry

    def put(self, connection: Connection) -> None:
        if self._closed or not connection.reusable() or self._count >= self._max_idle:
            connection.abort()
            return
        connection.release()
        now = connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.key, []).append(connection)
        self._count += 1
        if now - self._swept > self._expiry:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Drop what has expired or been closed by its server, for hosts no longer sent to."""
        self._swept = now
        for key, idle in list(self._idle.items()):
            kept: list[Connection] = []
            for connection in idle:
                if self._usable(connection, now):
                    kept.append(connection)
                else:
                    connection.abort()
            self._count -= len(idle) - len(kept)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()
        self._count = 0
