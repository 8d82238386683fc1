"""The Wallet page's low-balance alerts card: the wallet's levels, set through the operation the
API's ``/wallet/alerts`` calls (``billing.wallet.alerts``), so the page adds no rule of its own.

The form posts, saves and sends the browser back to the wallet (post, redirect, get), the
redirect's query naming which fixed sentence to show.
"""

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..billing.wallet import alerts
from ..operations import perform
from ..services import services
from ..values.languages import marked
from ..values.outcome import ApiError
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import dollars_to_cents, field, listed
from .paths import path_for

__all__ = ["context", "routes"]

_NOTICES = {
    "saved": marked("Alert levels saved."),
    "invalid": marked("Enter up to 5 different amounts in dollars, such as 50, 20, 5."),
}


async def context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the card shows: the levels as they stand, and the sentence a redirect named."""
    svc = services(request)
    found = (await perform(svc.waker, alerts.read(svc.db, viewer.caller))).one(
        alerts.WalletAlertsData
    )
    return {
        "levels": found,
        "levels_notice": _NOTICES.get(request.query_params.get("levels", "")),
    }


def _back(notice: str) -> RedirectResponse:
    return RedirectResponse(f"{path_for('wallet_page')}?levels={notice}#alerts", 303)


async def save_levels(request: Request) -> Response:
    """The API's PUT: the levels in dollars, separated by commas; none turns the alert off."""
    viewer = await require_viewer(request)
    data = await form(request)
    svc = services(request)
    try:
        cents = [dollars_to_cents(typed) for typed in listed(field(data, "levels", 200))]
        body = alerts.WalletAlertsRequest(thresholds_cents=cents)
    except (ApiError, ValidationError):
        return _back("invalid")
    await perform(svc.waker, alerts.save(svc.db, viewer.caller, body))
    return _back("saved")


routes: list[BaseRoute] = [Route("/wallet/alerts", save_levels, methods=["POST"])]
