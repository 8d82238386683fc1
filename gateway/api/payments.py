"""Routes of an agent's payments to sellers: ``POST /payments`` turns a seller's 402 challenge
into a credential under the key's policy (``sellers``, MCP's ``pay_challenge`` the
same operation), ``GET /payments`` and ``GET /payments/{id}`` read them, never their
credential: it is shown once, in the reply that made it and that reply's idempotent replays.
These need the ``payments:send`` scope. A payment a rule of the key's policy held is approved or
denied by ``POST /payments/{id}/approve`` and ``/deny``, with the ``approvals`` scope, as a held
send is."""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .. import idempotency, merchant_limits
from ..auth import require_caller
from ..ops.routing import BODY_ERRORS, CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..policies.model import Scope
from ..sellers import doors, fetch
from ..sellers import service as sellers
from ..sellers.schemas import (
    PAY_ID,
    FetchCreate,
    FetchData,
    PaymentCreate,
    PaymentData,
    PaymentMade,
)
from ..services import services
from ..topup.schemas import ListQuery
from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.outcome import ApiError, Outcome
from ..values.parsing import check_cursor, read_json, read_query
from .answer import answer

__all__ = ["FETCH_ERRORS", "PAY_ERRORS", "routes"]

SCOPE: Scope = "payments:send"
_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING)

# Every refusal of a payment, whichever door it came through (MCP's ``pay_challenge`` too).
PAY_ERRORS = (
    *_AUTH,
    *BODY_ERRORS,
    Code.INVALID_IDEMPOTENCY_KEY,
    Code.IDEMPOTENCY_KEY_REUSED,
    Code.PAYMENT_IN_PROGRESS,
    Code.PAYMENT_CALLS_RATE_LIMITED,
    Code.SERVICE_UNAVAILABLE,
    # The seller's challenge, read before anything else: nothing written.
    Code.PAYMENT_CREDENTIAL_MALFORMED,
    Code.PAYMENT_CHALLENGE_EXPIRED,
    Code.PAYMENT_METHOD_UNSUPPORTED,
    Code.PAYMENT_AMOUNT_NOT_PAYABLE,
    Code.PAYMENT_CHALLENGE_INVALID,  # in this gateway's realm, not issued by it
    # The merchant paid this challenge already: nothing written.
    Code.PAYMENT_CHALLENGE_PAID,
    # The key's policy: nothing written.
    Code.KEY_PAYEE_NOT_ALLOWED,
    Code.KEY_PER_SEND_CAP,
    Code.BUDGET_FROZEN,
    Code.BUDGET_NOT_FOUND,
    # The store's: the windows, the wallet, the kill switch.
    Code.KEY_LIMIT_REACHED,
    Code.KEY_PER_RECIPIENT_LIMIT,
    Code.KEY_PER_PAYEE_LIMIT,
    Code.BUDGET_LIMIT_REACHED,
    Code.CONSENT_LIMIT_REACHED,
    Code.INSUFFICIENT_BALANCE,
    Code.ENVIRONMENT_FROZEN,
    # The operator's treasury, which pays for the wallet: its float, nothing written.
    Code.TREASURY_FLOAT_SHORT,
    # The provider, once debited: failed, and released.
    Code.PAYMENT_PROVIDER_ERROR,
    Code.PAYMENT_PROVIDER_TIMEOUT,
    # Held for approval (202), then decided: the replay answers what it came to.
    Code.PAYMENT_AWAITING_APPROVAL,
    Code.PAYMENT_APPROVAL_DENIED,
    Code.PAYMENT_APPROVAL_EXPIRED,
)
# A paying fetch's: its payment's, and the seller's address and answer.
FETCH_ERRORS = (*PAY_ERRORS, Code.SELLER_ADDRESS_REFUSED, Code.SELLER_UNREACHABLE)
_DECISION_ERRORS = (
    *KEY_ERRORS,
    Code.KEY_SCOPE_MISSING,
    Code.PAYMENT_NOT_FOUND,
    Code.PAYMENT_NOT_AWAITING_APPROVAL,
    Code.KEY_SELF_APPROVAL,
    Code.HELD_KEY_REVOKED,
    Code.HELD_KEY_EXPIRED,
    Code.ENVIRONMENT_FROZEN,
)


def _key(request: Request) -> str:
    key = idempotency.parse_key(request.headers.get("idempotency-key"))
    if key is None:
        raise ApiError(Code.INVALID_IDEMPOTENCY_KEY, "A payment needs an Idempotency-Key header")
    return key


def _replied(outcome: Outcome) -> Response:
    headers = {idempotency.REPLAYED_HEADER: "true"} if outcome.replayed else None
    return Envelope.of(outcome, headers=headers)


async def create_payment(request: Request) -> Response:
    caller = require_caller(request, SCOPE)
    svc = services(request)
    key = _key(request)
    body, _ = await read_json(request, PaymentCreate, limit=svc.settings.max_body_bytes)
    await merchant_limits.SELLER_PAYMENTS.count(svc, caller.merchant_id, caller.env)
    return _replied(await doors.pay(svc, caller, body, key))


async def fetch_paying(request: Request) -> Response:
    caller = require_caller(request, SCOPE)
    svc = services(request)
    key = _key(request)
    body, _ = await read_json(request, FetchCreate, limit=svc.settings.max_body_bytes)
    await merchant_limits.SELLER_PAYMENTS.count(svc, caller.merchant_id, caller.env)
    return _replied(await fetch.fetch(svc, caller, body, key))


def _payment_id(request: Request) -> str:
    payment_id: str = request.path_params["payment_id"]
    if not PAY_ID.fullmatch(payment_id):
        raise ApiError(Code.PAYMENT_NOT_FOUND)
    return payment_id


def _decision(decide: doors.Decide) -> Callable[[Request], Awaitable[Response]]:
    """The route of a decision on a held payment (approve, deny): a key with the ``approvals``
    scope, not the one that asked for it."""

    async def handle(request: Request) -> Response:
        caller = require_caller(request, "approvals")
        return Envelope.of(await decide(services(request), caller, _payment_id(request)))

    return handle


approve_payment = _decision(doors.approve)
deny_payment = _decision(doors.deny)


async def list_payments(request: Request) -> Response:
    caller = require_caller(request, SCOPE)
    query = read_query(request, ListQuery)
    check_cursor(query.cursor, PAY_ID)
    operation = sellers.list_page(
        services(request).db, caller, limit=query.limit, cursor=query.cursor
    )
    return await answer(request, operation)


async def get_payment(request: Request) -> Response:
    caller = require_caller(request, SCOPE)
    payment_id = _payment_id(request)
    return await answer(request, sellers.get(services(request).db, caller, payment_id))


routes = [
    ApiRoute(
        "/payments",
        create_payment,
        methods=["POST"],
        doc=RouteDoc(
            "Pay a seller's 402 challenge from the wallet, under the key's policy; an "
            "Idempotency-Key is required",
            "payments",
            body=PaymentCreate,
            response=PaymentMade,
            success=Code.PAYMENT_AUTHORIZED,
            errors=PAY_ERRORS,
            secret=True,
        ),
    ),
    ApiRoute(
        "/payments/fetch",
        fetch_paying,
        methods=["POST"],
        doc=RouteDoc(
            "Request a seller's resource through the gateway, paying the 402 it answers from the "
            "wallet under the key's policy and retrying with the credential; an "
            "Idempotency-Key is required",
            "payments",
            body=FetchCreate,
            response=FetchData,
            errors=FETCH_ERRORS,
            secret=True,
        ),
    ),
    ApiRoute(
        "/payments",
        list_payments,
        methods=["GET"],
        doc=RouteDoc(
            "List payments to sellers, newest first, without their credentials",
            "payments",
            query=ListQuery,
            response=PaymentData,
            many=True,
            errors=(*_AUTH, *CURSOR_ERRORS),
        ),
    ),
    ApiRoute(
        "/payments/{payment_id}/approve",
        approve_payment,
        methods=["POST"],
        doc=RouteDoc(
            "Approve a payment held for approval: its credential is made for the key that asked "
            "(shown on that key's replay of its request, never here)",
            "payments",
            response=PaymentData,
            success=Code.PAYMENT_APPROVED,
            errors=(
                *_DECISION_ERRORS,
                Code.PAYMENT_CHALLENGE_EXPIRED,
                Code.PAYMENT_PROVIDER_ERROR,
                Code.PAYMENT_PROVIDER_TIMEOUT,
            ),
        ),
    ),
    ApiRoute(
        "/payments/{payment_id}/deny",
        deny_payment,
        methods=["POST"],
        doc=RouteDoc(
            "Deny a payment held for approval: its amount is back in the wallet",
            "payments",
            response=PaymentData,
            success=Code.PAYMENT_DENIED,
            errors=_DECISION_ERRORS,
        ),
    ),
    ApiRoute(
        "/payments/{payment_id}",
        get_payment,
        methods=["GET"],
        doc=RouteDoc(
            "Get a payment to a seller, without its credential",
            "payments",
            response=PaymentData,
            errors=(*_AUTH, Code.PAYMENT_NOT_FOUND),
        ),
    ),
]
