"""Routes of the top-up domain: send, read, list, cancel, balance and the staging sandbox."""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .. import idempotency
from ..auth import require_caller
from ..operations import perform
from ..ops.routing import BODY_ERRORS, CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..protocols import registry
from ..protocols.base import REFUSALS
from ..services import services
from ..topup import cancelling, doors, paying, reads, service, vouchers
from ..topup.schemas import (
    TXN_ID,
    BalanceData,
    FundRequest,
    ListQuery,
    RedeemedData,
    RedeemVoucherRequest,
    SendData,
    SendRequest,
    TopupData,
)
from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.outcome import ApiError, Outcome
from ..values.parsing import check_cursor, read_json, read_query
from .answer import answer
from .paid import paid_reply

__all__ = ["routes", "send_routes"]

_AUTH = KEY_ERRORS
_BODY = BODY_ERRORS


def _render(outcome: Outcome) -> Response:
    headers = {idempotency.REPLAYED_HEADER: "true"} if outcome.replayed else None
    return Envelope.of(outcome, headers=headers)


async def send_topup(request: Request) -> Response:
    caller = require_caller(request, None)
    svc = services(request)
    key = idempotency.parse_key(request.headers.get("idempotency-key"))
    body, _ = await read_json(
        request,
        SendRequest,
        limit=svc.settings.max_body_bytes,
        context={"max_topup_cents": svc.settings.max_topup_cents},
    )
    presenting = registry.presented_in_headers(request.headers)
    answered = await paying.send(svc, caller, body, key, presenting)
    return paid_reply(request, svc.settings, answered)


def _txn_id(request: Request) -> str:
    txn_id: str = request.path_params["txn_id"]
    if not TXN_ID.fullmatch(txn_id):
        raise ApiError(Code.TRANSACTION_NOT_FOUND)
    return txn_id


async def get_topup(request: Request) -> Response:
    caller = require_caller(request, "topup:read")
    svc = services(request)
    return await answer(request, reads.get(svc.db, svc.sealer, caller, _txn_id(request)))


async def list_topups(request: Request) -> Response:
    caller = require_caller(request, "topup:read")
    svc = services(request)
    query = read_query(request, ListQuery)
    check_cursor(query.cursor, TXN_ID)
    operation = reads.list_page(svc.db, svc.sealer, caller, limit=query.limit, cursor=query.cursor)
    return await answer(request, operation)


async def cancel_topup(request: Request) -> Response:
    caller = require_caller(request, "topup:send")
    svc = services(request)
    outcome = await perform(
        svc.waker, cancelling.cancel(svc.db, svc.sealer, caller, _txn_id(request))
    )
    return _render(outcome)


async def redeem_voucher(request: Request) -> Response:
    caller = require_caller(request, "topup:send")
    svc = services(request)
    body, _ = await read_json(request, RedeemVoucherRequest, limit=svc.settings.max_body_bytes)
    return await answer(request, vouchers.redeem(svc.db, svc.sealer, caller, body.code))


async def get_balance(request: Request) -> Response:
    caller = require_caller(request, "topup:read")
    return await answer(request, reads.balance(services(request).db, caller))


def _decision(decide: doors.Decide) -> Callable[[Request], Awaitable[Response]]:
    """The route of a decision on a held send (approve, deny): a key with the ``approvals``
    scope, the workers woken for its rows after commit."""

    async def handle(request: Request) -> Response:
        caller = require_caller(request, "approvals")
        svc = services(request)
        return _render(await decide(svc, caller, _txn_id(request)))

    return handle


approve_topup = _decision(doors.approve)
deny_topup = _decision(doors.deny)


async def sandbox_fund(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    body, _ = await read_json(
        request,
        FundRequest,
        limit=svc.settings.max_body_bytes,
        context={"max_sandbox_fund_cents": svc.settings.max_sandbox_fund_cents},
    )
    return await answer(request, service.sandbox_fund(svc.db, caller, body.amount_cents))


_SEND_ERRORS = (
    *_AUTH,
    *_BODY,
    Code.INSUFFICIENT_BALANCE,
    Code.KEY_LIMIT_REACHED,
    Code.KEY_PER_SEND_CAP,
    Code.KEY_PER_RECIPIENT_LIMIT,
    Code.KEY_PLATFORM_NOT_ALLOWED,
    Code.KEY_RECIPIENT_NOT_ALLOWED,
    Code.BUDGET_LIMIT_REACHED,
    Code.BUDGET_FROZEN,
    Code.TOPUP_FAILED,
    Code.IDEMPOTENCY_KEY_REUSED,
    Code.INVALID_IDEMPOTENCY_KEY,
    *REFUSALS,
)

_DECISION_ERRORS = (
    *_AUTH,
    Code.TRANSACTION_NOT_FOUND,
    Code.TOPUP_NOT_AWAITING_APPROVAL,
    Code.KEY_SELF_APPROVAL,
    Code.HELD_KEY_REVOKED,
    Code.HELD_KEY_EXPIRED,
)

# The send apart: ``public_routes`` tries it before every other route (it is the hot path).
send_routes = [
    ApiRoute(
        "/topup/send",
        send_topup,
        methods=["POST"],
        doc=RouteDoc(
            "Send a top-up to a recipient",
            "topup",
            body=SendRequest,
            response=SendData,
            success=Code.TOPUP_DELIVERED,
            secret=True,
            # A staging ``+pending`` recipient, or a send held for approval, answers 202: success
            # codes among the others.
            errors=(Code.TOPUP_PENDING, Code.TOPUP_AWAITING_APPROVAL, *_SEND_ERRORS),
            paid=True,
        ),
    ),
]

routes = [
    ApiRoute(
        "/topup",
        list_topups,
        methods=["GET"],
        doc=RouteDoc(
            "List top-ups, newest first",
            "topup",
            query=ListQuery,
            response=TopupData,
            many=True,
            errors=(*_AUTH, *CURSOR_ERRORS),
            secret=True,
        ),
    ),
    ApiRoute(
        "/topup/{txn_id}",
        get_topup,
        methods=["GET"],
        doc=RouteDoc(
            "Get a top-up",
            "topup",
            response=TopupData,
            errors=(*_AUTH, Code.TRANSACTION_NOT_FOUND),
            secret=True,
        ),
    ),
    ApiRoute(
        "/topup/{txn_id}/cancel",
        cancel_topup,
        methods=["POST"],
        doc=RouteDoc(
            "Cancel a pending top-up and refund it",
            "topup",
            response=TopupData,
            success=Code.TOPUP_CANCELLED,
            errors=(*_AUTH, Code.TRANSACTION_NOT_FOUND, Code.TOPUP_NOT_CANCELLABLE),
            secret=True,
        ),
    ),
    ApiRoute(
        "/topup/{txn_id}/approve",
        approve_topup,
        methods=["POST"],
        doc=RouteDoc(
            "Approve a top-up held for approval: it is delivered",
            "topup",
            response=TopupData,
            success=Code.TOPUP_DELIVERED,
            errors=_DECISION_ERRORS,
            secret=True,
        ),
    ),
    ApiRoute(
        "/topup/{txn_id}/deny",
        deny_topup,
        methods=["POST"],
        doc=RouteDoc(
            "Deny a top-up held for approval: it is refunded",
            "topup",
            response=TopupData,
            success=Code.TOPUP_DENIED,
            errors=_DECISION_ERRORS,
            secret=True,
        ),
    ),
    ApiRoute(
        "/vouchers/redeem",
        redeem_voucher,
        methods=["POST"],
        doc=RouteDoc(
            "Redeem a voucher this merchant sent, once, when its recipient presents it to the "
            "merchant's product: its amount is taken from the recipient's balance here",
            "topup",
            body=RedeemVoucherRequest,
            response=RedeemedData,
            success=Code.VOUCHER_REDEEMED,
            errors=(
                *_AUTH,
                *_BODY,
                Code.VOUCHER_CODE_INVALID,
                Code.VOUCHER_NOT_FOUND,
                Code.VOUCHER_ALREADY_REDEEMED,
                Code.VOUCHER_NOT_REDEEMABLE,
            ),
        ),
    ),
    ApiRoute(
        "/balance",
        get_balance,
        methods=["GET"],
        doc=RouteDoc(
            "The wallet balance of the key's environment",
            "wallet",
            response=BalanceData,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        "/sandbox/fund",
        sandbox_fund,
        methods=["POST"],
        doc=RouteDoc(
            "Add funds to the staging wallet",
            "wallet",
            body=FundRequest,
            response=BalanceData,
            errors=(*_AUTH, *_BODY, Code.ENV_NOT_ALLOWED),
        ),
    ),
]
