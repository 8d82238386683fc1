"""Live updates for the overview by server-sent events (``GET /dashboard/live``).

The stream reads the store, never this process's memory, so a top-up sent through any gateway
process, or a delivery made by any worker, shows up: the process's one poll (``hub.LiveHub``)
says when what the overview shows may have changed, renders its regions once for every stream of
that view and wakes them (event ``update``: region name → HTML, the same partial templates as
the page). A stream is bounded: at most ``live_streams_per_user`` a user and
``live_streams_per_process`` a process (past either: 429, ``LIVE_STREAMS_LIMITED``, with
``Retry-After``); a comment every ``HEARTBEAT_SECONDS`` keeps proxies from timing it out; a
signed-out or expired session gets ``signed-out`` and the end within a poll; and after
``MAX_LIFETIME_SECONDS`` it ends, so a stopping server never waits long on it. The browser's
EventSource reconnects by itself, and the first event of every stream is the whole current
state. It ends as soon as the client goes.
"""

import asyncio
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ..values.envelope import error_response
from ..values.outcome import ApiError
from .context import require_viewer, visit
from .hub import LiveHub, Stream, hub_of
from .render import reading

__all__ = ["HEARTBEAT_SECONDS", "MAX_LIFETIME_SECONDS", "events_of", "routes"]

HEARTBEAT_SECONDS = 15.0
MAX_LIFETIME_SECONDS = 60.0
RETRY_MS = 1000


class _Joined(StreamingResponse):
    """Leaves the hub however the response ends, even if its body never started."""

    def __init__(self, hub: LiveHub, stream: Stream) -> None:
        super().__init__(
            _events(hub, stream),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self._hub = hub
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._hub.leave(self._stream)


async def _events(hub: LiveHub, stream: Stream) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    first = await hub.first(stream)
    if first:
        yield first
    deadline = time.monotonic() + MAX_LIFETIME_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            await asyncio.wait_for(stream.wake.wait(), timeout=min(HEARTBEAT_SECONDS, left))
        except TimeoutError:
            if deadline - time.monotonic() > 0:
                yield b": keep-alive\n\n"
            continue
        stream.wake.clear()
        if stream.last is not None:
            if stream.last:
                yield stream.last
            return
        if stream.update is not None:
            update, stream.update = stream.update, None
            yield update


def events_of(hub: LiveHub, joined: Stream) -> Response:
    """The response of a stream that joined ``hub``: its events, until it ends."""
    return _Joined(hub, joined)


async def stream(request: Request) -> Response:
    viewer = await require_viewer(request)
    session = (await visit(request)).session
    assert session is not None  # require_viewer found it
    hub = hub_of(request)
    try:
        joined = hub.join(viewer.user_id, session.id_hash, viewer.caller, reading=reading(request))
    except ApiError as refused:
        return error_response(refused)
    return _Joined(hub, joined)


routes: list[BaseRoute] = [Route("/live", stream, methods=["GET"])]
