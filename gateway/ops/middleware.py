"""Request ids, the one-line access log and request metrics, as one plain ASGI middleware.

It sits inside Starlette's error middleware, so an unhandled exception passes through it on its
way out: the line is still written (500, code 9001), and the envelope that the error middleware
then sends adds the request id itself, from the scope.

A client that hangs up before its body is read (Starlette raises ``ClientDisconnect``) is a
normal early end, not an error: the request stops here with one info line and status 499 (the
code proxies log for it), no traceback, and nothing is sent, since no one is listening.
"""

import logging
import re
import secrets
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..values.code_names import Code
from ..values.envelope import SCOPE_CODE, SCOPE_REQUEST_ID
from . import metrics

__all__ = ["REQUEST_ID_HEADER", "RequestContext"]

REQUEST_ID_HEADER = "X-Request-Id"
_HEADER_KEY = b"x-request-id"
# Bounded and inert: an id is echoed in headers and logs, so it must not carry anything else.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
UNMATCHED = "unmatched"
# The status logged and counted for a request whose client went away before its reply.
CLIENT_CLOSED = 499

access_log = logging.getLogger("aitopup.access")
error_log = logging.getLogger("aitopup.error")


def _incoming_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == _HEADER_KEY:
            text = value.decode("latin-1")
            return text if _SAFE_ID.fullmatch(text) else None
    return None


class RequestContext:
    def __init__(self, app: ASGIApp, *, access_log: bool = True, metrics: bool = True) -> None:
        self.app = app
        self.log = access_log
        self.metrics = metrics
        self._templates: dict[int, str] = {}

    def _template(self, scope: Scope, root_path: str) -> str:
        route = scope.get("route")
        if not isinstance(route, Route):  # no route, or a mount with nothing under it
            return UNMATCHED
        found = self._templates.get(id(route))
        if found is None:
            found = scope.get("root_path", "")[len(root_path) :] + route.path
            self._templates[id(route)] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope["headers"]) or secrets.token_hex(16)
        scope[SCOPE_REQUEST_ID] = request_id
        header = (_HEADER_KEY, request_id.encode())
        root_path = scope.get("root_path", "")
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if SCOPE_CODE not in scope:  # an envelope has added the header itself
                    message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            self._finish(
                scope, root_path, request_id, CLIENT_CLOSED, None, started, "client disconnected"
            )
            return
        except Exception:
            error_log.error("unhandled error", exc_info=True, extra={"request_id": request_id})
            self._finish(scope, root_path, request_id, 500, Code.INTERNAL_ERROR, started)
            raise
        self._finish(scope, root_path, request_id, status, scope.get(SCOPE_CODE), started)

    def _finish(
        self,
        scope: Scope,
        root_path: str,
        request_id: str,
        status: int,
        code: Any,
        started: float,
        message: str = "request",
    ) -> None:
        if not (self.log or self.metrics):
            return
        seconds = time.perf_counter() - started
        route = self._template(scope, root_path)
        code_label = "" if code is None else str(int(code))
        if self.metrics:
            metrics.observe_request(route, scope["method"], status, code_label, seconds)
        if self.log:
            user = scope.get("user")
            access_log.info(
                message,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "code": None if code is None else int(code),
                    "duration_ms": round(seconds * 1000, 2),
                    # The key's merchant (``auth.KeyUser``), for authenticated requests only.
                    "merchant_id": user.display_name
                    if user is not None and user.is_authenticated
                    else None,
                },
            )
