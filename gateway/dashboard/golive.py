"""Going live: the checklist (``merchants.golive``) with a link from each missing item to the
page that fixes it."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..merchants.golive import checklist
from ..services import services
from ..values.marking import marked
from .context import require_viewer
from .render import page

__all__ = ["FIXES", "routes"]

# Check name -> (the route where to fix it, the link's words). Fixes happen in live: the link's
# page switches there by the form on it when needed.
FIXES = {
    "live_key": ("list_keys", marked("Make a live key")),
    "endpoint": ("home", marked("Add or test a live endpoint")),
    "fulfilment": ("fulfilment", marked("Choose where live credit lands")),
    "funding": ("wallet_page", marked("Fund the live wallet")),
}


async def go_live(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    checks = await checklist(svc.db, svc.settings, viewer.merchant_id)
    ready = all(c.state != "missing" for c in checks)
    return page(request, "golive/index.html", {"checks": checks, "fixes": FIXES, "ready": ready})


routes: list[BaseRoute] = [Route("/go-live", go_live, methods=["GET"])]
