"""How REST renders an answer of the paid retry (``protocols.paid``): each offer of a refusal
for funds and the receipt of a payment in its protocol's headers, and the Problem Details body
(``application/problem+json``) to a client that asks for it, where a protocol defines one;
otherwise the product's envelope, with the same headers."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import idempotency
from ..protocols.paid import Answered, headers_of, problem_of
from ..values.codes import CATALOGUE
from ..values.envelope import Envelope
from ..values.settings import Settings

__all__ = ["PROBLEM_JSON", "paid_reply"]

PROBLEM_JSON = "application/problem+json"


def _wants_problem(request: Request) -> bool:
    return PROBLEM_JSON in request.headers.get("accept", "")


def paid_reply(request: Request, settings: Settings, answered: Answered) -> Response:
    outcome = answered.outcome
    headers: dict[str, str] = {}
    if outcome.replayed:
        headers[idempotency.REPLAYED_HEADER] = "true"
    headers.update(headers_of(answered))
    body = problem_of(answered) if _wants_problem(request) else None
    if body is not None:
        status = CATALOGUE[outcome.code].http_status
        return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)
    return Envelope.of(outcome, headers=headers or None)
