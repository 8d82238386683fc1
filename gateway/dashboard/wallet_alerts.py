"""The Wallet page's low-balance alerts card: the wallet's levels, set through the operation the
API's ``/wallet/alerts`` calls (``billing.wallet.alerts``), so the page adds no rule of its own.

The form posts, saves and sends the browser back to the wallet (post, redirect, get), the
redirect's query naming which fixed sentence to show.
"""

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..billing.wallet import alerts
from ..operations import perform
from ..services import services
from ..values.code_names import Code
from ..values.marking import marked
from .cards import Card
from .context import Viewer
from .inputs import dollars_to_cents, field, listed

__all__ = ["context", "routes"]

_NOTICES = {
    "saved": marked("Alert levels saved."),
    "invalid": marked("Enter up to 5 different amounts in dollars, such as 50, 20, 5."),
}
# An amount that is not dollars (``dollars_to_cents``); the operation itself refuses nothing.
_CARD = Card("wallet_page", "levels", _NOTICES, {Code.VALIDATION_FAILED: "invalid"}, "alerts")


async def context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the card shows: the levels as they stand, and the sentence a redirect named."""
    svc = services(request)
    found = (await perform(svc.waker, alerts.read(svc.db, viewer.caller))).one(
        alerts.WalletAlertsData
    )
    return {
        "levels": found,
        "levels_notice": _CARD.notice(request),
    }


async def save_levels(request: Request, viewer: Viewer, data: FormData) -> str:
    """The API's PUT: the levels in dollars, separated by commas; none turns the alert off."""
    svc = services(request)
    cents = [dollars_to_cents(typed) for typed in listed(field(data, "levels", 200))]
    body = alerts.WalletAlertsRequest(thresholds_cents=cents)
    await perform(svc.waker, alerts.save(svc.db, viewer.caller, body))
    return "saved"


routes: list[BaseRoute] = [
    Route("/wallet/alerts", _CARD.posted(save_levels, invalid="invalid"), methods=["POST"])
]
