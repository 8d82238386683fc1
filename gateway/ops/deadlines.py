"""Deadlines for slow clients on ``aitopup serve``: uvicorn's HTTP protocol, bounded as nginx
bounds a client (``deploy/nginx.conf``), for a gateway that no proxy stands in front of.

uvicorn has no deadline for a request's head or body: a client that trickles them holds a
connection, and a slot of ``limit_concurrency``, for as long as it likes (slow loris). An ASGI
middleware cannot help with the head (the app is called once the head is whole), so the bound
lives in the protocol, the one adapter over uvicorn's internals (``HttpToolsProtocol``'s
parser callbacks and its ``flow``, ``transport`` and ``loop``); ``tests/gateway/ops/
test_slow_clients.py`` runs it on a real socket and fails when the library moves:

- the head: whole within ``header_timeout`` of its first byte (of the connection, for the first
  request), as nginx's ``client_header_timeout``;
- the body: no pause longer than ``body_timeout`` between two reads, as ``client_body_timeout``;
  while the app has not taken what was read (reading paused by uvicorn's flow control) the wait
  is the gateway's, not the client's, and does not count;
- the head at most ``max_head_bytes``, as ``large_client_header_buffers``.

A client past one is cut off: the connection closed, nothing sent (no one is listening).
"""

import asyncio
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["BoundedHttpToolsProtocol", "bounded_protocol"]


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self, *args: Any, header_timeout: float, body_timeout: float, max_head_bytes: int, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._max_head_bytes = max_head_bytes
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = False
        self._in_body = False
        self._head_bytes = 0

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_body and self.flow.read_paused:
            self._arm(self._body_timeout)  # the app is behind, not the client
            return
        self.transport.close()

    # uvicorn's own signature takes ``asyncio.Transport``, narrower than ``asyncio.Protocol``'s.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head, self._head_bytes = True, 0
        self._arm(self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_body:
            self._arm(self._body_timeout)
        super().data_received(data)
        # Counted after parsing: a head that ended in this read is whole, whatever follows it.
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes and not self.transport.is_closing():
                self._disarm()
                self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # a later request on a kept-alive connection: its first byte
            self._in_head, self._head_bytes = True, 0
            self._arm(self._header_timeout)

    def on_headers_complete(self) -> None:
        self._in_head, self._in_body = False, True
        self._arm(self._body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        super().on_message_complete()


def bounded_protocol(
    *, header_timeout: float, body_timeout: float, max_head_bytes: int
) -> "partial[BoundedHttpToolsProtocol]":
    """What uvicorn's ``http`` option takes: it calls this as it would the class. A partial of a
    module-level class, so ``--workers`` can hand it to each process."""
    return partial(
        BoundedHttpToolsProtocol,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_head_bytes=max_head_bytes,
    )
