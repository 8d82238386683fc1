"""The API describing its own codes."""

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ..codes import CATALOGUE, Code
from ..envelope import Envelope
from ..ops.routing import ApiRoute, RouteDoc

__all__ = ["CodeEntry", "routes"]


class CodeEntry(BaseModel):
    code: int
    name: str
    http_status: int
    message: str


def code_entries() -> list[CodeEntry]:
    return [
        CodeEntry(code=int(c), name=c.name, http_status=i.http_status, message=i.message)
        for c, i in sorted(CATALOGUE.items())
    ]


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
