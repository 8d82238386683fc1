"""The Wallet page's auto top-up card: the saved payment method, the threshold, the target, the
monthly cap and the latest runs, set through the operations the API's ``/wallet/auto-top-up``
calls (``billing.auto_top_up``), so the page adds no rule of its own.

Each form posts, acts and sends the browser back to the wallet (post, redirect, get), the
redirect's query naming which fixed sentence to show; saving a card in live goes to Stripe's
setup page, which sends the browser back to the wallet, where reading the card completes it.
"""

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import merchant_limits
from ..billing import auto_top_up
from ..billing.auto_top_up.schemas import AutoTopUpData, AutoTopUpRequest, SetupData, SetupRequest
from ..billing.channels.providers.sandbox import TEST_CARDS
from ..operations import perform
from ..services import services
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError
from .cards import Card
from .context import Viewer
from .inputs import dollars_to_cents, field

__all__ = ["context", "routes"]

_NOTICES = {
    "saved": marked("Auto top-up saved."),
    "card": marked("Payment method saved."),
    "off": marked("Auto top-up removed, with its saved payment method."),
    "invalid": marked("Enter a threshold, a target above it and a monthly cap, in dollars."),
    "no-card": marked("Save a payment method first: auto top-up charges it."),
    "no-stripe": marked("Auto top-up in live needs Stripe, which is not configured here."),
}
_REFUSALS = {
    Code.AUTO_TOP_UP_INVALID: "invalid",
    Code.VALIDATION_FAILED: "invalid",
    Code.AUTO_TOP_UP_NO_PAYMENT_METHOD: "no-card",
    Code.AUTO_TOP_UP_CHANNEL_UNAVAILABLE: "no-stripe",
    Code.AUTO_TOP_UP_NOT_FOUND: "off",
}
_CARD = Card("wallet_page", "auto", _NOTICES, _REFUSALS, anchor="auto-top-up")


async def context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the card shows: the auto top-up as it stands (``None`` when none is set), the
    sandbox's test cards in staging, and the sentence a redirect named."""
    svc = services(request)
    try:
        read = auto_top_up.read(svc.db, svc.settings, viewer.caller)
        auto: AutoTopUpData | None = (await perform(svc.waker, read)).one(AutoTopUpData)
    except ApiError as exc:
        if exc.code != Code.AUTO_TOP_UP_NOT_FOUND:
            raise
        auto = None
    cards = {k: label for k, (label, _) in TEST_CARDS.items()} if viewer.env == "staging" else {}
    return {
        "auto": auto,
        "auto_cards": cards,
        "auto_notice": _CARD.notice(request),
    }


async def save_auto_top_up(request: Request, viewer: Viewer, data: FormData) -> str:
    """The API's PUT: threshold, target and monthly cap in dollars, on or off."""
    svc = services(request)
    body = AutoTopUpRequest(
        threshold_cents=dollars_to_cents(field(data, "threshold", 20).strip()),
        target_cents=dollars_to_cents(field(data, "target", 20).strip()),
        monthly_cap_cents=dollars_to_cents(field(data, "cap", 20).strip()),
        enabled=field(data, "enabled", 5) == "on",
    )
    await perform(svc.waker, auto_top_up.save(svc.db, svc.settings, viewer.caller, body, utcnow()))
    return "saved"


async def set_up_card(request: Request, viewer: Viewer, data: FormData) -> str | Response:
    """The API's setup: the chosen sandbox card saved at once (staging), or off to Stripe's
    setup page (live), which comes back to the wallet."""
    svc = services(request)
    card = field(data, "card", 60).strip() or None
    await merchant_limits.PAYMENT_CALLS.count(svc, viewer.merchant_id, viewer.env)
    opened = auto_top_up.setup(
        svc.db, svc.settings, viewer.caller, SetupRequest(payment_method=card), utcnow()
    )
    done = (await perform(svc.waker, opened)).one(SetupData)
    return "card" if done.url is None else RedirectResponse(done.url, 303)


async def remove_auto_top_up(request: Request, viewer: Viewer, data: FormData) -> str:
    svc = services(request)
    await perform(svc.waker, auto_top_up.remove(svc.db, viewer.caller))
    return "off"  # or gone already (``AUTO_TOP_UP_NOT_FOUND``): off all the same


routes: list[BaseRoute] = [
    Route(
        "/wallet/auto-top-up", _CARD.posted(save_auto_top_up, invalid="invalid"), methods=["POST"]
    ),
    Route("/wallet/auto-top-up/setup", _CARD.posted(set_up_card), methods=["POST"]),
    Route("/wallet/auto-top-up/remove", _CARD.posted(remove_auto_top_up), methods=["POST"]),
]
