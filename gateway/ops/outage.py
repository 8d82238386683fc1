"""A call that meets the database down is answered ``503``, code ``9002``, not ``500``; one
that it did not answer in time (``store.unreachable.timed_out``), ``503``, code ``9003``.

Outermost but for the request context, so every door (the API, MCP, the dashboard, the admin
API) and authentication (the key lookup is the first statement of a call) answer the same way.
The database coming back needs nothing here: each pool opens new connections for new calls.
One warning line, without a traceback, per call refused: the outage is not a bug.

A door that answers inside its transport (an MCP tool's result) asks ``failure_outcome`` for
the same code: one mapping of an exception to the envelope, whichever door it reached.
"""

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..store.unreachable import is_unreachable, timed_out
from ..values.code_names import Code
from ..values.envelope import Envelope, refusal_of
from ..values.outcome import Outcome

__all__ = ["StoreOutage", "failure_outcome", "logged", "outage_outcome"]

log = logging.getLogger("aitopup.store")

MESSAGE = "The store is unavailable; try again shortly"


def outage_outcome(exc: BaseException) -> Outcome | None:
    """The store's outage as every door answers it (9003 timed out, else 9002); ``None`` when
    ``exc`` is no outage. The door that answers it logs it (``logged``)."""
    if not is_unreachable(exc):
        return None
    if timed_out(exc):
        return Outcome(Code.STORE_TIMED_OUT)
    return Outcome(Code.SERVICE_UNAVAILABLE, message=MESSAGE)


def failure_outcome(exc: Exception) -> Outcome:
    """What a door whose transport cannot raise answers (an MCP tool's result): the same
    code REST's handlers and this middleware answer for the same exception, a refusal's own,
    an outage's, else ``INTERNAL_ERROR`` (the caller logs it with its trace)."""
    return refusal_of(exc) or outage_outcome(exc) or Outcome(Code.INTERNAL_ERROR)


def logged(exc: BaseException, answer: Outcome) -> None:
    """One line for a call the store did not answer, without a traceback: the outage is not a
    bug. The caller logs anything else with its trace."""
    if answer.code in (Code.STORE_TIMED_OUT, Code.SERVICE_UNAVAILABLE):
        log.warning("the store did not answer: %s", type(exc).__name__)


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
            outage = None if started else outage_outcome(exc)
            if outage is None:
                raise
            logged(exc, outage)
            await Envelope.of(outage, headers={"Retry-After": "1"})(scope, receive, send)
