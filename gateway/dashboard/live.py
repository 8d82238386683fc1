"""Live updates for the overview by server-sent events (``GET /dashboard/live``).

The stream reads the store, never this process's memory, so a top-up sent through any gateway
process, or a delivery made by any worker, shows up: every ``POLL_SECONDS`` one cheap statement
(``figures.fingerprint``) says whether anything the overview shows may have changed, and only
then are its regions rendered again and sent (event ``update``: region name → HTML, the same
partial templates as the page). A stream is bounded: a comment every ``HEARTBEAT_SECONDS`` keeps
proxies from timing it out, the session is checked again every ``SESSION_RECHECK_SECONDS`` (a
signed-out session gets ``signed-out`` and the end), and after ``MAX_LIFETIME_SECONDS`` it ends,
so a stopping server never waits long on it; the browser's EventSource reconnects by itself, and
the first event of every stream is the whole current state. It ends as soon as the client goes.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ..accounts import sessions
from ..services import services
from . import figures, overview
from .context import require_viewer, visit

__all__ = ["HEARTBEAT_SECONDS", "MAX_LIFETIME_SECONDS", "POLL_SECONDS", "routes"]

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
SESSION_RECHECK_SECONDS = 15.0
MAX_LIFETIME_SECONDS = 60.0
RETRY_MS = 1000


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream(request: Request) -> Response:
    viewer = await require_viewer(request)
    session_id = (await visit(request)).session_id
    db = services(request).db
    caller = viewer.caller

    async def events() -> AsyncIterator[bytes]:
        yield f"retry: {RETRY_MS}\n\n".encode()
        started = checked = beat = time.monotonic()
        seen: tuple[Any, ...] | None = None
        while time.monotonic() - started < MAX_LIFETIME_SECONDS:
            if await request.is_disconnected():
                return
            now = time.monotonic()
            if now - checked >= SESSION_RECHECK_SECONDS:
                checked = now
                session = await sessions.load(db, session_id)
                if session is None:
                    yield _event("signed-out", {})
                    return
                if session.env != viewer.env:  # switched in another tab: start again
                    return
            found = await figures.fingerprint(db, caller)
            if found != seen:
                seen = found
                beat = now
                yield _event("update", await overview.fragments(db, caller))
            elif now - beat >= HEARTBEAT_SECONDS:
                beat = now
                yield b": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes: list[BaseRoute] = [Route("/live", stream, methods=["GET"])]
