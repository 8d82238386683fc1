"""The API describing its own codes."""

from starlette.requests import Request
from starlette.responses import Response

from ..ops.routing import ApiRoute, RouteDoc
from ..values.catalogue import CodeEntry, code_entries
from ..values.code_names import Code
from ..values.envelope import Envelope

__all__ = ["routes"]


async def list_codes(request: Request) -> Response:
    return Envelope(Code.SUCCESS, [e.model_dump() for e in code_entries()])


routes = [
    ApiRoute(
        "/codes",
        list_codes,
        methods=["GET"],
        doc=RouteDoc("The code catalogue", "meta", auth="none", response=CodeEntry, many=True),
    ),
]
