"""The admin routes of merchants' credit grants: a grant, and its void."""

from starlette.requests import Request
from starlette.responses import Response

from ...admin import grants
from ...admin.audit import Call
from ...billing.wallet.grants import GrantCreate, GrantData
from ...services import services
from ...values.code_names import Code
from ...values.parsing import read_json
from ..answer import answer
from .door import NO_MERCHANT, path_id, route

__all__ = ["routes"]


async def create_grant(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, GrantCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, grants.create(svc.db, call, path_id(request), body))


async def void_grant(request: Request, call: Call) -> Response:
    grant_id = str(request.path_params["grant_id"])[:60]
    return await answer(
        request, grants.void(services(request).db, call, path_id(request), grant_id)
    )


routes = [
    route(
        "/merchants/{id}/credit-grants",
        create_grant,
        "POST",
        "merchants.grant",
        "Grant credit to a merchant's wallet: its category, priority (0 drawn first) and "
        "optional expiry; data.id is the grant's",
        body=GrantCreate,
        response=GrantData,
        success=Code.CREATED,
        errors=NO_MERCHANT,
    ),
    route(
        "/merchants/{id}/credit-grants/{grant_id}/void",
        void_grant,
        "POST",
        "merchants.grant_void",
        "Void a merchant's credit grant: what is left of it leaves the wallet by a ledger "
        "entry; a grant is voided once",
        response=GrantData,
        errors=(Code.CREDIT_GRANT_NOT_FOUND, Code.CREDIT_GRANT_VOIDED),
    ),
]
