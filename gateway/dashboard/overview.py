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
from ..operations import perform
from ..services import Services, services
from ..topup import listed, reads
from ..topup.schemas import BalanceData
from ..values.languages import Reading
from . import figures
from .context import require_viewer
from .render import page, region

__all__ = ["REGIONS", "fragments", "load", "routes"]

# data-live region → its partial template.
REGIONS = {
    "balance": "overview/_balance.html",
    "recent-topups": "overview/_recent.html",
    "webhook-health": "overview/_health.html",
    "pending-approvals": "_approvals_badge.html",
}
RECENT = 10


async def load(svc: Services, caller: Caller) -> dict[str, Any]:
    db = svc.db
    recent, _ = await listed.topups(db, caller, limit=RECENT)
    # As GET /balance answers it.
    balance = (await perform(svc.waker, reads.balance(db, caller))).one(BalanceData)
    return {
        "balance_cents": balance.balance_cents,
        "held_cents": balance.held_cents,
        "low_balance_threshold_cents": caller.low_balance_threshold_cents,
        "recent": recent,
        "health": await figures.webhook_health(db, caller),
        "pending_approvals": await figures.pending_approvals(db, caller),
        "env": caller.env,
    }


async def fragments(svc: Services, caller: Caller, read_in: Reading) -> dict[str, str]:
    data = await load(svc, caller)
    return {name: region(t, data, read_in) for name, t in REGIONS.items()}


async def overview(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    data = await load(svc, viewer.caller)
    waiting = users.pending_invitations(svc.db, viewer.user_id)
    invitations = (await perform(svc.waker, waiting)).many(users.PendingInvitation)
    return page(
        request, "overview/index.html", {**data, "regions": REGIONS, "invitations": invitations}
    )


routes: list[BaseRoute] = [Route("/", overview, methods=["GET"])]
