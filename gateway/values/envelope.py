"""The envelope every public reply is wrapped in, the ApiError tree, and the exception handlers."""

from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .clock import rfc3339, utcnow
from .code_names import Code
from .codes import CATALOGUE
from .outcome import (
    ApiError,
    EnvelopeBody,
    Outcome,
)

__all__ = [
    "HANDLERS",
    "SCOPE_CODE",
    "SCOPE_REQUEST_ID",
    "Envelope",
    "error_response",
    "refusal_of",
    "validation_details",
]

# Left in the ASGI scope for the request middleware: the code a reply carried, and the request id
# every envelope echoes (also the ones sent from outside that middleware, on a 500).
SCOPE_CODE = "aitopup.code"
SCOPE_REQUEST_ID = "aitopup.request_id"


class Envelope(JSONResponse):
    """Serialise once, through pydantic, in the one shape the API speaks."""

    def __init__(
        self,
        code: Code,
        data: Any = None,
        *,
        message: str | None = None,
        transaction_id: str | None = None,
        status: str | None = None,
        meta: dict[str, Any] | None = None,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
        timestamp: str | None = None,
    ) -> None:
        info = CATALOGUE[code]
        self.code = code
        body = EnvelopeBody(
            success=code < 2000,
            code=int(code),
            message=message or info.message,
            transaction_id=transaction_id,
            status=status,
            timestamp=timestamp or rfc3339(utcnow()),
            data=data,
            meta=meta,
        )
        super().__init__(body, status_code=http_status or info.http_status, headers=headers)

    @classmethod
    def of(cls, outcome: Outcome, *, headers: dict[str, str] | None = None) -> "Envelope":
        """An operation's outcome, with its own timestamp: the one way REST renders one."""
        body = outcome.body()
        return cls(
            outcome.code,
            body.data,
            message=outcome.message,
            transaction_id=outcome.transaction_id,
            status=outcome.status,
            meta=outcome.meta,
            timestamp=outcome.timestamp,
            headers=headers,
        )

    def render(self, content: Any) -> bytes:
        assert isinstance(content, EnvelopeBody)
        return content.render()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_CODE] = self.code
        request_id = scope.get(SCOPE_REQUEST_ID)
        if request_id is not None:
            self.raw_headers.append((b"x-request-id", request_id.encode()))
        await super().__call__(scope, receive, send)


def error_response(exc: ApiError) -> Envelope:
    return Envelope.of(exc.outcome(), headers=exc.headers)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the echoed input, which may hold secrets or huge values."""
    return [
        {"loc": [str(p) for p in err["loc"]], "type": err["type"], "msg": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def refusal_of(exc: BaseException) -> Outcome | None:
    """A refusal's answer, the same on every door: an ``ApiError``'s own, a request's values
    that did not validate ``VALIDATION_FAILED`` with their errors; ``None`` for any other
    exception (``ops.outage.failure_outcome`` answers those)."""
    if isinstance(exc, ApiError):
        return exc.outcome()
    if isinstance(exc, ValidationError):
        return Outcome(Code.VALIDATION_FAILED, {"errors": validation_details(exc)})
    return None


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    refused = refusal_of(exc)
    assert refused is not None
    return Envelope.of(refused)


_HTTP_CODES = {404: Code.ROUTE_NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code)
    if code is None:
        code = Code.INTERNAL_ERROR if exc.status_code >= 500 else Code.VALIDATION_FAILED
        return Envelope(code, http_status=exc.status_code, headers=dict(exc.headers or {}))
    return Envelope(code, headers=dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    return Envelope(Code.INTERNAL_ERROR)


HANDLERS: dict[Any, Any] = {
    ApiError: _api_error,
    ValidationError: _validation_error,
    HTTPException: _http_error,
    Exception: _server_error,
}
