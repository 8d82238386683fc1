"""Routes of a merchant's recipients: balances, top-ups and e-mail state per address, and the
end of every link to one's page made until now."""

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..ops.routing import CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..recipients import revocations, service
from ..recipients.schemas import LinksRevokedData, RecipientData, RecipientsQuery
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import read_query
from .answer import answer

__all__ = ["routes"]


async def list_recipients(request: Request) -> Response:
    caller = require_caller(request, "topup:read")
    query = read_query(request, RecipientsQuery)
    cursor = None
    if query.cursor is not None:
        cursor = service.address(query.cursor)
        if cursor is None:
            raise ApiError(Code.INVALID_CURSOR)
    operation = service.list_page(services(request).db, caller, limit=query.limit, cursor=cursor)
    return await answer(request, operation)


async def get_recipient(request: Request) -> Response:
    caller = require_caller(request, "topup:read")
    email = service.address(unquote(request.path_params["email"]))
    if email is None:
        raise ApiError(Code.RECIPIENT_NOT_FOUND)
    return await answer(request, service.get(services(request).db, caller, email))


async def revoke_links(request: Request) -> Response:
    caller = require_caller(request, "topup:send")
    email = service.address(unquote(request.path_params["email"]))
    if email is None:
        raise ApiError(Code.RECIPIENT_NOT_FOUND)
    return await answer(request, revocations.revoke(services(request).db, caller, email))


routes = [
    ApiRoute(
        "/recipients",
        list_recipients,
        methods=["GET"],
        doc=RouteDoc(
            "The addresses this environment has sent top-ups to: balances, top-ups, e-mail state",
            "recipients",
            query=RecipientsQuery,
            response=RecipientData,
            many=True,
            errors=(*KEY_ERRORS, *CURSOR_ERRORS),
        ),
    ),
    ApiRoute(
        "/recipients/{email}",
        get_recipient,
        methods=["GET"],
        doc=RouteDoc(
            "One recipient, by address",
            "recipients",
            response=RecipientData,
            errors=(*KEY_ERRORS, Code.RECIPIENT_NOT_FOUND),
        ),
    ),
    ApiRoute(
        "/recipients/{email}/revoke-links",
        revoke_links,
        methods=["POST"],
        doc=RouteDoc(
            "End every link to the recipient's page made until now (a fresh one works)",
            "recipients",
            response=LinksRevokedData,
            success=Code.RECIPIENT_LINKS_REVOKED,
            errors=(*KEY_ERRORS, Code.RECIPIENT_NOT_FOUND),
        ),
    ),
]
