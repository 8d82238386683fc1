"""New API's own top-up paths, for the clients that already speak them, mounted at ``/api/user``:
``GET /topup/info``, ``POST /pay``, ``POST /topup`` (a redemption code) and ``GET /topup/self``.

Each is a door onto the operation the public API runs for the same thing (top-up info, a
checkout, a redemption, the orders list), with the same scope (``billing``), per-merchant limits
and environment, so no rule has a second copy here; ``billing.newapi`` converts New API's units
and shapes. Replies are New API's: ``{"success", "message", "data"}``, no envelope. A refusal is
``{"success": false, "message"}`` (``POST /pay`` says it in ``data`` too, where New API's own
clients of that path read it), HTTP 200 as New API answers its refusals, except the ones an HTTP
client acts on: 401 (no or a bad key), 403 (a scope), 429 (a limit, with ``Retry-After``) and 503.

Authenticated by the gateway's own keys, ``Authorization: Bearer ak_…``, as every door is
(``auth.authenticate_key``: lockout, key rate limit, last use). New API's clients may also send
``New-Api-User`` (their numeric user id): the key alone says who calls, so it is not read.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .. import merchant_limits
from ..auth import KeyUser, authenticate_key, challenged, door_resource, presented_key
from ..billing import newapi, orders, service
from ..billing.newapi import (
    NewApiInfoReply,
    NewApiPageQuery,
    NewApiPayReply,
    NewApiPayRequest,
    NewApiRedeemReply,
    NewApiRedeemRequest,
    NewApiRefusal,
    NewApiSelfReply,
)
from ..billing.schemas import CheckoutData, CheckoutRequest, OrderData, TopupInfo
from ..billing.wallet import redemption
from ..callers import Caller, require_scope
from ..lockout import client_address
from ..operations import perform
from ..ops.routing import ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.envelope import SCOPE_CODE, SCOPE_REQUEST_ID
from ..values.outcome import ApiError
from ..values.parsing import read_json, read_query

__all__ = ["PREFIX", "routes"]

PREFIX = "/api/user"
# The refusals an HTTP client acts on keep their status: the key's (401, 403: codes 2xxx), a
# limit's (429) and an outage's (503). New API answers every other refusal with 200.
_KEY_BAND = range(2000, 3000)
_HTTP_KEPT = {401, 403, 429, 503}


class NewApiReply(JSONResponse):
    """A reply in New API's shape, logged and counted with the code behind it, as an envelope
    is (``SCOPE_CODE``), and carrying the request id as every reply does."""

    def __init__(
        self,
        body: dict[str, Any],
        code: Code,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        super().__init__(body, status_code=status_code, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_CODE] = self.code
        request_id = scope.get(SCOPE_REQUEST_ID)
        if request_id is not None:
            self.raw_headers.append((b"x-request-id", request_id.encode()))
        await super().__call__(scope, receive, send)


def _said(refusal: ApiError) -> str:
    """The refusal's message, with the first field a validation names, since New API's shape
    has no room for the envelope's ``data.errors``."""
    errors = refusal.data.get("errors") if isinstance(refusal.data, dict) else None
    if errors:
        where = ".".join(errors[0]["loc"])
        return f"{refusal.message}: {where}: {errors[0]['msg']}" if where else refusal.message
    return refusal.message


def _kept(code: Code, status: int) -> bool:
    return status in (429, 503) or (code in _KEY_BAND and status in _HTTP_KEPT)


def _refused(refusal: ApiError, *, in_data: bool = False) -> NewApiReply:
    message = _said(refusal)
    status = CATALOGUE[refusal.code].http_status
    body = NewApiRefusal(success=False, message=message, data=message if in_data else None)
    return NewApiReply(
        body.model_dump(exclude_none=True),
        refusal.code,
        status_code=status if _kept(refusal.code, status) else 200,
        headers=refusal.headers,
    )


def _ok(reply: BaseModel, code: Code, headers: dict[str, str] | None = None) -> NewApiReply:
    return NewApiReply(reply.model_dump(mode="json"), code, headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


def _in_new_api_words(*, in_data: bool = False) -> Callable[[Handler], Handler]:
    """Every refusal of the wrapped door, whoever raised it (the key, the body, the
    operation), answered in New API's shape."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def door(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as refusal:
                return _refused(challenged(request, refusal), in_data=in_data)

        return door

    return wrap


async def _caller(request: Request) -> Caller:
    """The caller behind the request's key, as every door authenticates one; the four paths
    are the wallet's funding, scope ``billing``."""
    presented = presented_key(request)
    if presented is None:
        raise ApiError(Code.AUTH_MISSING)
    svc = services(request)
    pepper = svc.settings.key_pepper.get_secret_value().encode()
    caller = await authenticate_key(
        svc, pepper, presented, client_address(request), door_resource(svc.settings)
    )
    # The access log's merchant, and the caller a missing scope's challenge names.
    request.scope["user"] = KeyUser(caller)
    require_scope(caller, "billing")
    return caller


@_in_new_api_words()
async def topup_info(request: Request) -> Response:
    caller = await _caller(request)
    svc = services(request)
    outcome = await perform(svc.waker, service.topup_info(svc.db, svc.settings, caller))
    found = newapi.info(outcome.one(TopupInfo), svc.settings)
    return _ok(NewApiInfoReply(success=True, message="", data=found), outcome.code)


@_in_new_api_words(in_data=True)
async def pay(request: Request) -> Response:
    caller = await _caller(request)
    svc = services(request)
    body, _ = await read_json(request, NewApiPayRequest, limit=svc.settings.max_body_bytes)
    # The method names a channel (an Epay type: Epay, with that type); the checkout refuses
    # one not offered in the caller's environment, as it does for the public API.
    method = newapi.channel_of(body.payment_method)
    decision = await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    checkout = CheckoutRequest(amount_cents=newapi.cents_of(body.amount), channel=method.channel)
    operation = orders.checkout(svc.db, svc.settings, caller, checkout, method=method.epay_type)
    outcome = await perform(svc.waker, operation)
    url = outcome.one(CheckoutData).checkout_url
    reply = NewApiPayReply(success=True, message="success", data=url, url=url)
    return _ok(reply, outcome.code, decision.headers())


@_in_new_api_words()
async def redeem(request: Request) -> Response:
    caller = await _caller(request)
    svc = services(request)
    body, _ = await read_json(request, NewApiRedeemRequest, limit=svc.settings.max_body_bytes)
    # Every attempt counts, found or not, in the bucket the public API's redemptions count in.
    decision = await merchant_limits.REDEEM.count(svc, caller.merchant_id)
    operation = redemption.redeem(svc.db, svc.settings, caller, body.key)
    outcome = await perform(svc.waker, operation)
    cents = int(outcome.data["amount_cents"])
    reply = NewApiRedeemReply(
        success=True, message=newapi.redeemed_message(cents), data=newapi.quota_of(cents)
    )
    return _ok(reply, outcome.code, decision.headers())


@_in_new_api_words()
async def topups(request: Request) -> Response:
    caller = await _caller(request)
    query = read_query(request, NewApiPageQuery)
    if query.keyword:
        raise ApiError(Code.INVALID_QUERY, "keyword search is not offered here")
    operation = orders.list_orders(
        services(request).db,
        caller,
        limit=query.page_size,
        offset=(query.p - 1) * query.page_size,
        status=None,
    )
    outcome = await perform(services(request).waker, operation)
    total = int((outcome.meta or {})["total"])
    found = newapi.page(outcome.many(OrderData), p=query.p, page_size=query.page_size, total=total)
    return _ok(NewApiSelfReply(success=True, message="", data=found), outcome.code)


_TAG = "newapi"


def _replies(ok: type[BaseModel]) -> dict[int, tuple[type[BaseModel], ...]]:
    return {
        200: (ok, NewApiRefusal),
        **{status: (NewApiRefusal,) for status in sorted(_HTTP_KEPT)},
    }


routes = [
    ApiRoute(
        "/topup/info",
        topup_info,
        methods=["GET"],
        doc=RouteDoc(
            "New API's top-up info: the amounts (whole US dollars), discounts and payment "
            "methods of the key's environment (GET /api/public/v1/billing/topup-info, in New "
            "API's shape)",
            _TAG,
            replies=_replies(NewApiInfoReply),
        ),
    ),
    ApiRoute(
        "/pay",
        pay,
        methods=["POST"],
        doc=RouteDoc(
            "New API's payment: {amount} whole US dollars as a custom-amount checkout of "
            "amount * 100 cents through the channel payment_method names (POST "
            "/api/public/v1/billing/checkout {channel}); data and url are the link a person "
            "opens to pay",
            _TAG,
            body=NewApiPayRequest,
            replies=_replies(NewApiPayReply),
            secret=True,  # the link is enough to pay a sandbox order
        ),
    ),
    ApiRoute(
        "/topup",
        redeem,
        methods=["POST"],
        doc=RouteDoc(
            "New API's redemption: {key} a redemption code into the wallet of the key's "
            "environment (POST /api/public/v1/billing/redeem); data is the quota credited",
            _TAG,
            body=NewApiRedeemRequest,
            replies=_replies(NewApiRedeemReply),
        ),
    ),
    ApiRoute(
        "/topup/self",
        topups,
        methods=["GET"],
        doc=RouteDoc(
            "New API's top-up history: the environment's orders and redemptions, newest "
            "first, paged by p and page_size (GET /api/public/v1/orders, in New API's shape)",
            _TAG,
            query=NewApiPageQuery,
            replies=_replies(NewApiSelfReply),
        ),
    ),
]
