"""Routes of the top-up domain: send, read, list, cancel, balance and the staging sandbox."""

import re

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from .. import idempotency
from ..auth import require_caller
from ..codes import Code
from ..envelope import ApiError, CursorMeta, Envelope
from ..operations import perform
from ..ops import metrics
from ..outcome import Outcome
from ..services import services
from ..topup import service
from ..topup.schemas import BalanceData, FundRequest, SendData, SendRequest, TopupData
from .parsing import read_json, read_query
from .routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc

__all__ = ["ListQuery", "routes"]

_TXN_ID = re.compile(r"txn_[0-9a-z]{24}")
_AUTH = KEY_ERRORS
_BODY = BODY_ERRORS


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


def _render(outcome: Outcome) -> Response:
    headers = {idempotency.REPLAYED_HEADER: "true"} if outcome.replayed else None
    return Envelope.of(outcome, headers=headers)


async def send_topup(request: Request) -> Response:
    caller = require_caller(request)
    svc = services(request)
    key = idempotency.parse_key(request.headers.get("idempotency-key"))
    body, _ = await read_json(
        request,
        SendRequest,
        limit=svc.settings.max_body_bytes,
        context={"max_topup_cents": svc.settings.max_topup_cents},
    )
    outcome = await perform(
        svc.enqueuer,
        service.send(
            svc.db,
            svc.sealer,
            caller,
            body,
            idempotency_key=key,
            idempotency_ttl_seconds=svc.settings.idempotency_ttl_seconds,
        ),
    )
    if svc.settings.metrics:
        metrics.observe_topup(caller.env, body.platform, None if outcome.replayed else outcome.code)
    return _render(outcome)


def _txn_id(request: Request) -> str:
    txn_id: str = request.path_params["txn_id"]
    if not _TXN_ID.fullmatch(txn_id):
        raise ApiError(Code.TRANSACTION_NOT_FOUND)
    return txn_id


async def get_topup(request: Request) -> Response:
    caller = require_caller(request)
    svc = services(request)
    topup = await service.get(svc.db, svc.sealer, caller, _txn_id(request))
    return Envelope(Code.SUCCESS, topup.model_dump(), transaction_id=topup.id, status=topup.status)


async def list_topups(request: Request) -> Response:
    caller = require_caller(request)
    svc = services(request)
    query = read_query(request, ListQuery)
    if query.cursor is not None and not _TXN_ID.fullmatch(query.cursor):
        raise ApiError(Code.INVALID_CURSOR)
    items, has_more = await service.list_page(
        svc.db, svc.sealer, caller, limit=query.limit, cursor=query.cursor
    )
    return Envelope(
        Code.SUCCESS,
        [i.model_dump() for i in items],
        meta=CursorMeta(
            limit=query.limit, has_more=has_more, next_cursor=items[-1].id if has_more else None
        ).model_dump(),
    )


async def cancel_topup(request: Request) -> Response:
    caller = require_caller(request)
    svc = services(request)
    outcome = await perform(
        svc.enqueuer, service.cancel(svc.db, svc.sealer, caller, _txn_id(request))
    )
    return _render(outcome)


async def get_balance(request: Request) -> Response:
    caller = require_caller(request)
    balance = await service.wallet_balance(services(request).db, caller)
    data = BalanceData(
        env=caller.env,
        balance_cents=balance,
        low_balance_threshold_cents=caller.low_balance_threshold_cents,
    )
    return Envelope(Code.SUCCESS, data.model_dump())


async def sandbox_fund(request: Request) -> Response:
    caller = require_caller(request)
    svc = services(request)
    body, _ = await read_json(
        request,
        FundRequest,
        limit=svc.settings.max_body_bytes,
        context={"max_sandbox_fund_cents": svc.settings.max_sandbox_fund_cents},
    )
    balance = await service.sandbox_fund(svc.db, caller, body.amount_cents)
    data = BalanceData(
        env=caller.env,
        balance_cents=balance,
        low_balance_threshold_cents=caller.low_balance_threshold_cents,
    )
    return Envelope(Code.SUCCESS, data.model_dump())


_SEND_ERRORS = (
    *_AUTH,
    *_BODY,
    Code.INSUFFICIENT_BALANCE,
    Code.TOPUP_FAILED,
    Code.IDEMPOTENCY_KEY_REUSED,
    Code.INVALID_IDEMPOTENCY_KEY,
)

routes = [
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
            # A staging ``+pending`` recipient answers 202: a success code among the others.
            errors=(Code.TOPUP_PENDING, *_SEND_ERRORS),
        ),
    ),
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
            errors=(*_AUTH, Code.INVALID_CURSOR, Code.INVALID_QUERY),
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
