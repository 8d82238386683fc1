"""Routes of the staging test inbox: the receiver itself, which any sender holding its URL may
post to (its token is its only credential), and the merchant's read of it."""

from starlette.requests import Request
from starlette.responses import Response

from .. import merchant_limits
from ..auth import require_caller
from ..operations import perform
from ..ops.routing import KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.parsing import read_capped, read_query
from ..webhooks import inbox
from .answer import answer

__all__ = ["routes"]


async def read_inbox(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    query = read_query(request, inbox.InboxQuery)
    operation = inbox.read_inbox(svc.db, svc.sealer, svc.settings, caller, limit=query.limit)
    return await answer(request, operation)


async def receive(request: Request) -> Response:
    svc = services(request)
    token: str = request.path_params["token"]
    merchant_id = (await perform(svc.waker, inbox.owner_of(svc.db, token))).one(str)
    decision = await merchant_limits.WEBHOOK_INBOX.count(svc, merchant_id)
    body = await read_capped(request, inbox.MAX_BODY_BYTES)
    raw = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers.raw]
    operation = inbox.receive(svc.db, svc.sealer, merchant_id, token, request.method, raw, body)
    return await answer(request, operation, headers=decision.headers())


routes = [
    ApiRoute(
        "/webhooks/inbox",
        read_inbox,
        methods=["GET"],
        doc=RouteDoc(
            "The staging test inbox: its URL (paste it as a staging endpoint's) and the newest "
            "requests it received, with whether each one's signature verified",
            "webhooks",
            query=inbox.InboxQuery,
            response=inbox.InboxData,
            errors=(*KEY_ERRORS, Code.INVALID_QUERY, Code.WEBHOOK_INBOX_STAGING_ONLY),
            secret=True,  # the URL's token is the inbox's only credential
        ),
    ),
    ApiRoute(
        "/webhooks/inbox/{token}",
        receive,
        methods=["POST", "PUT", "PATCH"],
        doc=RouteDoc(
            "The staging test inbox's receiver: keeps the request a day (the token in the path "
            "is its only credential)",
            "webhooks",
            auth="none",
            response=inbox.InboxReceipt,
            errors=(
                Code.WEBHOOK_INBOX_NOT_FOUND,
                Code.WEBHOOK_INBOX_RATE_LIMITED,
                Code.BODY_TOO_LARGE,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
]
