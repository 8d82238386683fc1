"""Routes of the merchant's own list of destinations bound to origins (``sellers.
bindings``): an origin in a key's ``allowed_payees`` admits only the destinations bound to it,
so a url an agent names never chooses where the money goes. Binding is a person's act: the
``approvals`` scope (which approving a held payment also binds with), never ``payments:send``."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..ops.routing import BODY_ERRORS, CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..sellers import bindings
from ..sellers.schemas import BINDING_ID, BindingCreate, BindingData
from ..services import services
from ..topup.schemas import ListQuery
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import check_cursor, read_json, read_query
from .answer import answer

__all__ = ["routes"]

PATH = "/payments/bindings"
_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING)


async def add_binding(request: Request) -> Response:
    caller = require_caller(request, "approvals")
    svc = services(request)
    body, _ = await read_json(request, BindingCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, bindings.add(svc.db, caller, body))


async def list_bindings(request: Request) -> Response:
    caller = require_caller(request, "approvals")
    query = read_query(request, ListQuery)
    check_cursor(query.cursor, BINDING_ID)
    operation = bindings.listed(
        services(request).db, caller, limit=query.limit, cursor=query.cursor
    )
    return await answer(request, operation)


async def remove_binding(request: Request) -> Response:
    caller = require_caller(request, "approvals")
    found: str = request.path_params["binding_id"]
    if not BINDING_ID.fullmatch(found):
        raise ApiError(Code.PAYEE_BINDING_NOT_FOUND)
    return await answer(request, bindings.remove(services(request).db, caller, found))


routes = [
    ApiRoute(
        PATH,
        add_binding,
        methods=["POST"],
        doc=RouteDoc(
            "Bind a destination to an origin: an origin in a key's allowed_payees then admits "
            "payments whose money goes there (a payment's destination), whatever url names "
            "it. One bound already is answered as it stands. Needs the approvals scope",
            "payments",
            body=BindingCreate,
            response=BindingData,
            success=Code.CREATED,
            errors=(*_AUTH, *BODY_ERRORS),
        ),
    ),
    ApiRoute(
        PATH,
        list_bindings,
        methods=["GET"],
        doc=RouteDoc(
            "List the environment's destinations bound to origins, newest first: by a "
            "person's approval of a payment, or this list. Needs the approvals scope",
            "payments",
            query=ListQuery,
            response=BindingData,
            many=True,
            errors=(*_AUTH, *CURSOR_ERRORS),
        ),
    ),
    ApiRoute(
        PATH + "/{binding_id}",
        remove_binding,
        methods=["DELETE"],
        doc=RouteDoc(
            "Unbind a destination from its origin: a payment there under that origin alone is "
            "held for a person again. Needs the approvals scope",
            "payments",
            success=Code.DELETED,
            errors=(*_AUTH, Code.PAYEE_BINDING_NOT_FOUND),
        ),
    ),
]
