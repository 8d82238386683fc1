"""The overview: the wallet (available and held), recent top-ups, webhook health. Its three
regions are partial templates, rendered the same way for the page and for the live stream
(``live``), so an update is exactly what a reload would show. The stream carries a fourth, the
navigation's count of sends awaiting approval, which every signed-in page shows."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..accounts import users
from ..callers import Caller
from ..services import services
from ..store.db import Database
from ..topup import service as topup
from ..topup.schemas import BalanceData
from . import figures
from .context import require_viewer
from .render import TEMPLATES, page

__all__ = ["REGIONS", "fragments", "load", "routes"]

# data-live region → its partial template.
REGIONS = {
    "balance": "overview/_balance.html",
    "recent-topups": "overview/_recent.html",
    "webhook-health": "overview/_health.html",
    "pending-approvals": "_approvals_badge.html",
}
RECENT = 10


async def load(db: Database, caller: Caller) -> dict[str, Any]:
    recent, _ = await figures.topups(db, caller, limit=RECENT)
    # As GET /balance answers it; a read, which makes no deliveries for ``perform`` to enqueue.
    balance = (await topup.balance(db, caller)).one(BalanceData)
    return {
        "balance_cents": balance.balance_cents,
        "held_cents": balance.held_cents,
        "low_balance_threshold_cents": caller.low_balance_threshold_cents,
        "recent": recent,
        "health": await figures.webhook_health(db, caller),
        "pending_approvals": await figures.pending_approvals(db, caller),
        "env": caller.env,
    }


async def fragments(db: Database, caller: Caller) -> dict[str, str]:
    data = await load(db, caller)
    return {name: TEMPLATES.get_template(t).render(data) for name, t in REGIONS.items()}


async def overview(request: Request) -> Response:
    viewer = await require_viewer(request)
    db = services(request).db
    data = await load(db, viewer.caller)
    invitations = await users.pending_invitations(db, viewer.user_id)
    return page(
        request, "overview/index.html", {**data, "regions": REGIONS, "invitations": invitations}
    )


routes: list[BaseRoute] = [Route("/", overview, methods=["GET"])]
