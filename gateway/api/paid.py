"""How REST renders an answer of the paying doors (``topup.paying``): the MPP challenge in
``WWW-Authenticate`` on a 402, the receipt in ``Payment-Receipt`` on success, and the Problem
Details body (``application/problem+json``, ``https://paymentauth.org/problems/…``) to a client
that asks for it; otherwise the product's envelope, with the same headers. x402's offer and
settlement ride beside, in ``PAYMENT-REQUIRED`` and ``PAYMENT-RESPONSE``."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import idempotency
from ..billing import machine_payments
from ..billing.protocols import x402 as x402_offers
from ..topup.paying import Answered
from ..values.codes import CATALOGUE
from ..values.envelope import Envelope
from ..values.settings import Settings

__all__ = ["PROBLEM_JSON", "machine_payment_reply"]

PROBLEM_JSON = "application/problem+json"


def _wants_problem(request: Request) -> bool:
    return PROBLEM_JSON in request.headers.get("accept", "")


def machine_payment_reply(request: Request, settings: Settings, answered: Answered) -> Response:
    outcome = answered.outcome
    headers: dict[str, str] = {}
    if outcome.replayed:
        headers[idempotency.REPLAYED_HEADER] = "true"
    challenge = answered.challenge
    if challenge is not None:
        headers["WWW-Authenticate"] = challenge.to_www_authenticate(challenge.realm)
        headers["Cache-Control"] = "no-store"
    if answered.offers.x402 is not None:
        headers[x402_offers.PAYMENT_REQUIRED_HEADER] = answered.offers.x402
    if answered.receipt is not None:
        headers[machine_payments.RECEIPT_HEADER] = answered.receipt.to_payment_receipt()
    if answered.settled is not None:
        headers[x402_offers.PAYMENT_RESPONSE_HEADER] = x402_offers.response_header(answered.settled)
    if outcome.code in machine_payments.PROBLEM_TYPES and _wants_problem(request):
        body = machine_payments.problem(
            outcome.code,
            challenge.id if challenge is not None else None,
            outcome.body().data,
        )
        status = CATALOGUE[outcome.code].http_status
        return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)
    return Envelope.of(outcome, headers=headers or None)
