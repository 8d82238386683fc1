"""Developers: the quick start, written for this merchant (its newest key's display prefix, this
gateway's address) in curl, Python and MCP (each client's configuration over HTTP and stdio, from
``ops.mcp_clients``, as ``/llms.txt`` shows them, the stdio ones naming this gateway's own
folder), each block with a copy button, and the way to the API explorer and the agents'
guide."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..merchants import keys
from ..merchants.schemas import KeyData
from ..operations import perform
from ..ops.mcp_clients import configs, gateway_folder
from ..services import services
from ..values.public_base import public_base
from .context import require_viewer
from .render import page

__all__ = ["routes"]


async def developers(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    listed = await perform(svc.waker, keys.merchant_keys(svc.db, viewer.merchant_id))
    found = listed.many(KeyData)
    usable = [k for k in found if k.env == viewer.env and k.revoked_at is None]
    prefix = usable[-1].display_prefix if usable else None
    base = public_base(svc.settings)
    key = f"{prefix}…" if prefix else f"ak_{viewer.env}_…"
    folder = gateway_folder()
    return page(
        request,
        "developers/index.html",
        {
            "key_prefix": prefix,
            "base": base,
            "api": f"{base}/api/public/v1",
            "folder": folder,
            "clients": configs(base, key, folder),
        },
    )


routes: list[BaseRoute] = [Route("/developers", developers, methods=["GET"])]
