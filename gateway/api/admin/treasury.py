"""The admin routes of the operator's treasury: its rails read, a rail's float and level set."""

from starlette.requests import Request
from starlette.responses import Response

from ...admin import treasury
from ...admin.audit import Call
from ...sellers.treasury import RailSet
from ...services import services
from ...values.parsing import read_json
from ..answer import answer
from .door import route

__all__ = ["routes"]


async def get_treasury(request: Request, call: Call) -> Response:
    svc = services(request)
    return await answer(request, treasury.rails(svc.db, svc.settings))


async def put_treasury(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, RailSet, limit=svc.settings.max_body_bytes)
    return await answer(request, treasury.set_rail(svc.db, svc.settings, call, body))


routes = [
    route(
        "/treasury",
        get_treasury,
        "GET",
        "treasury.get",
        "The operator's treasury, per environment and rail: its float and level, what it has "
        "out, what is available, when the operator was told it fell below its level, its "
        "ledger's sums (paid out, used by sellers, released), the worker's last reconciliation "
        "against the provider (its drifts and the provider's balance), and whether its "
        "instrument is set",
        response=treasury.RailState,
        many=True,
    ),
    route(
        "/treasury",
        put_treasury,
        "PUT",
        "treasury.set",
        "Set a rail's float (the most the treasury has out at once; payments past it are "
        "refused, 4671) and its level (below it, the operator is told once); setting it re-arms "
        "the level's alert",
        body=RailSet,
        response=treasury.RailState,
        many=True,
    ),
]
