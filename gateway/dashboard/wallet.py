"""The dashboard's wallet page: the balance, the ledger, the funding history, buying a pack and
redeeming a code, each through the funding services the API calls (``gateway.billing``).

Buying a pack is the API's checkout: staging gets the built-in sandbox checkout, live a Stripe
Checkout Session; either way the browser goes to the checkout's page and comes back here.
Redemption counts against the same per-merchant limit as ``POST /billing/redeem``. A refusal is
shown beside the form that caused it, with what was typed kept.
"""

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import merchant_limits
from ..billing import orders, redemption
from ..billing import service as funding
from ..billing.schemas import HISTORY_PAGE_SIZE, CheckoutRequest
from ..codes import CATALOGUE, Code
from ..operations import perform
from ..outcome import ApiError
from ..services import services
from ..topup import service as topups
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import field, page_number, problem
from .render import page

__all__ = ["LEDGER_PAGE_SIZE", "routes"]

LEDGER_PAGE_SIZE = 20
WALLET = "/dashboard/wallet"
# Set only by our own redirects; the query names which fixed sentence to show.
_NOTICES = {
    "paid": "Checkout finished. The credit appears below once the payment is confirmed.",
    "cancelled": "Checkout cancelled: nothing was charged.",
    "redeemed": "Code redeemed: the credit is in your wallet.",
}


async def _wallet_page(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    checkout: dict[str, str] | None = None,
    redeem: dict[str, str] | None = None,
) -> Response:
    svc = services(request)
    caller = viewer.caller
    ledger_page = page_number(request, "ledger")
    history_page = page_number(request, "history")
    packs = await funding.list_packs(svc.db)
    balance = (await topups.balance(svc.db, caller)).balance_cents
    entries, entries_total = await funding.transactions(
        svc.db, caller, limit=LEDGER_PAGE_SIZE, offset=(ledger_page - 1) * LEDGER_PAGE_SIZE
    )
    history, history_total = await funding.history(svc.db, caller, history_page)
    context: dict[str, Any] = {
        "balance_cents": balance,
        "packs": packs,
        "payments_configured": viewer.env == "staging"
        or svc.settings.stripe_secret_key is not None,
        "entries": entries,
        "ledger_page": ledger_page,
        "ledger_pages": max(1, -(-entries_total // LEDGER_PAGE_SIZE)),
        "history": history,
        "history_page": history_page,
        "history_pages": max(1, -(-history_total // HISTORY_PAGE_SIZE)),
        "notice": _NOTICES.get(request.query_params.get("notice", "")),
        "checkout": checkout or {"pack_id": "", "coupon": "", "error": ""},
        "redeem": redeem or {"code": "", "error": ""},
    }
    return page(request, "wallet/index.html", context, status=status)


async def wallet_page(request: Request) -> Response:
    return await _wallet_page(request, await require_viewer(request))


def _base_url(request: Request) -> str:
    settings = services(request).settings
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


async def checkout(request: Request) -> Response:
    """The API's checkout, then off to its page (Stripe's, or the staging sandbox's), which
    sends the payer back to the wallet."""
    viewer = await require_viewer(request)
    data = await form(request)
    typed = {"pack_id": field(data, "pack_id", 40), "coupon": field(data, "coupon", 40).strip()}
    back = _base_url(request) + WALLET
    try:
        body = CheckoutRequest(
            pack_id=typed["pack_id"],
            coupon=typed["coupon"] or None,
            success_url=back + "?notice=paid",
            cancel_url=back + "?notice=cancelled",
        )
        svc = services(request)
        made = await orders.checkout(
            svc.db, svc.settings, viewer.caller, body, base_url=str(request.base_url)
        )
    except (ApiError, ValidationError) as exc:
        status, message = problem(exc)
        return await _wallet_page(
            request, viewer, status=status, checkout={**typed, "error": message}
        )
    if made.provider == "sandbox":
        # The gateway's own page. The link alone can pay the order: no cache may keep this.
        return RedirectResponse(made.checkout_url, 303, headers={"Cache-Control": "no-store"})
    # Stripe's page is on another site, and the dashboard's CSP (form-action 'self') stops a
    # form's redirect from leaving this one: the payer follows a link instead.
    return page(request, "wallet/checkout.html", {"order": made}, no_store=True)


async def redeem(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    code = field(data, "code", 64).strip()
    svc = services(request)
    try:
        if not code:
            raise ApiError(Code.VALIDATION_FAILED, "Enter a redemption code.")
        # The API's limit, in the same bucket: every attempt counts, found or not.
        await merchant_limits.REDEEM.count(svc, viewer.merchant_id)
        await perform(svc.enqueuer, redemption.redeem(svc.db, svc.settings, viewer.caller, code))
    except ApiError as exc:
        status, message = problem(exc)
        response = await _wallet_page(
            request, viewer, status=status, redeem={"code": code, "error": message}
        )
        if exc.headers and CATALOGUE[exc.code].http_status == 429:
            response.headers.update(exc.headers)
        return response
    return RedirectResponse(WALLET + "?notice=redeemed", 303)


routes: list[BaseRoute] = [
    Route("/wallet", wallet_page, methods=["GET"]),
    Route("/wallet/checkout", checkout, methods=["POST"]),
    Route("/wallet/redeem", redeem, methods=["POST"]),
]
