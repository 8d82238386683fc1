"""The baseline: bare Starlette returning a small JSON body, on the same server settings."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def echo(request: Request) -> Response:
    await request.body()
    return JSONResponse({"success": True, "code": 1000, "data": {"ok": True}})


app = Starlette(routes=[Route("/send", echo, methods=["POST"])])
