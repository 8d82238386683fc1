"""A call that meets the database down is answered ``503``, code ``9002``, not ``500``; one
that it did not answer in time (``store.unreachable.timed_out``), ``503``, code ``9003``.

Outermost but for the request context, so every door (the API, MCP, the dashboard, the admin
API) and authentication (the key lookup is the first statement of a call) answer the same way.
The database coming back needs nothing here: each pool opens new connections for new calls.
One warning line, without a traceback, per call refused: the outage is not a bug.
"""

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..store.unreachable import is_unreachable, timed_out
from ..values.codes import Code
from ..values.envelope import Envelope

__all__ = ["StoreOutage"]

log = logging.getLogger("aitopup.store")

MESSAGE = "The store is unavailable; try again shortly"


class StoreOutage:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started or not is_unreachable(exc):
                raise
            log.warning("the store did not answer: %s", type(exc).__name__)
            if timed_out(exc):
                reply = Envelope(Code.STORE_TIMED_OUT, headers={"Retry-After": "1"})
            else:
                reply = Envelope(
                    Code.SERVICE_UNAVAILABLE, message=MESSAGE, headers={"Retry-After": "1"}
                )
            await reply(scope, receive, send)
