"""The dashboard's wallet page: the balance, the ledger, the funding history, buying a pack,
redeeming a code, the plans on sale and the merchant's subscription (subscribing, and its
portal), each through the funding services the API calls (``gateway.billing``).

Buying a pack is the API's checkout, through the channel picked among those the environment
offers (``billing.channels.offering``): staging gets the built-in sandbox checkout titled for the
channel, live the channel's own page (a Stripe Checkout Session…); either way the browser goes
to the checkout's page and comes back here.
Redemption counts against the same per-merchant limit as ``POST /billing/redeem``. A refusal is
shown beside the form that caused it, with what was typed kept.
"""

import re
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import merchant_limits
from ..billing import orders, subscriptions
from ..billing import pages as billing_pages
from ..billing import service as funding
from ..billing.channels import registry
from ..billing.orders import pricing
from ..billing.receipts import reads as receipts
from ..billing.schemas import (
    HISTORY_PAGE_SIZE,
    LEDGER_CURSOR,
    CheckoutData,
    CheckoutRequest,
    HistoryItem,
    LedgerItem,
    PackData,
    TopupInfo,
)
from ..billing.settling import reconcile
from ..billing.subscriptions import open_checkouts, plans
from ..billing.subscriptions.schemas import (
    PaymentSessionData,
    PaymentSessionRequest,
    PlanData,
    PortalData,
    SubscriptionReply,
)
from ..billing.wallet import grants, redemption
from ..billing.wallet.grants import GrantData
from ..operations import perform
from ..services import services
from ..topup import reads, vouchers
from ..topup.schemas import BalanceData, RedeemedData
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError, Outcome
from ..values.public_base import public_base
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import FORM, FormErrors, dollars_to_cents, field, page_number
from .paths import path_for
from .render import page, reading
from .wallet_alerts import context as alerts_context
from .wallet_auto_top_up import context as auto_top_up_context
from .wallet_cards import context as cards_context
from .wallet_cards import receipt_page_reply, receipt_pdf_reply
from .wallet_payer_keys import context as payer_keys_context

__all__ = ["LEDGER_PAGE_SIZE", "SUBSCRIPTION_STATES", "routes"]

LEDGER_PAGE_SIZE = 20
# The newest credit grants the page lists; the API pages through every one.
GRANTS_SHOWN = 20
ORDER_ID = re.compile(r"ord_[0-9a-z]{24}")
# Set only by our own redirects; the query names which fixed sentence to show.
_NOTICES = {
    "paid": marked("Checkout finished. The credit appears below once the payment is confirmed."),
    "cancelled": marked("Checkout cancelled: nothing was charged."),
    "redeemed": marked("Code redeemed: the credit is in your wallet."),
    "checked": marked("Payment checked with the provider: the order below shows what it found."),
    "subscribed": marked(
        "Subscribed. The plan's credit appears below once the payment is confirmed."
    ),
    "not-subscribed": marked("Subscription checkout cancelled: nothing was charged."),
    "checkout-ended": marked("The open subscription checkout is cancelled: nothing was charged."),
}
# An order's states (the filter, the history), in the API's words, each translated where shown.
_STATUSES = (marked("pending"), marked("completed"), marked("failed"), marked("expired"))
# A subscription's states as the Wallet shows them (``plan_schemas.SubscriptionData.status``).
SUBSCRIPTION_STATES = (
    marked("incomplete"),
    marked("active"),
    marked("past_due"),
    marked("canceled"),
)
CUSTOM = "custom"
# The checkout form's fields by the request model's, and by the refusals of the funding
# services; what the list of refusals calls each field of the wallet's forms.
_CHECKOUT_FIELDS = {
    "pack_id": "pack_id",
    "amount_cents": "amount",
    "coupon": "coupon",
    "channel": "channel",
}
_REFUSAL_FIELD = {
    Code.PACK_NOT_FOUND: "pack_id",
    Code.CUSTOM_AMOUNT_OFF: "amount",
    Code.CUSTOM_AMOUNT_INVALID: "amount",
    Code.COUPON_NOT_FOUND: "coupon",
    Code.COUPON_EXPIRED: "coupon",
    Code.COUPON_EXHAUSTED: "coupon",
    Code.COUPON_NOT_APPLICABLE: "coupon",
    Code.PAYMENT_CHANNEL_UNKNOWN: "channel",
    Code.PAYMENT_CHANNEL_NOT_AVAILABLE: "channel",
    Code.PAYMENT_CHANNEL_NOT_ENABLED: "channel",
    Code.PAYMENT_CHANNEL_NOT_CONFIGURED: "channel",
}
_LABELS = {
    "pack_id": marked("Pack"),
    "amount": marked("Custom amount"),
    "coupon": marked("Coupon"),
    "channel": marked("Pay with"),
    "code": marked("Code"),
    "voucher": marked("Voucher"),
    "plan_id": marked("Plan"),
    "interval": marked("Billed"),
}


def _total(listed: Outcome) -> int:
    """A paged list's total, from its ``meta``."""
    return int((listed.meta or {}).get("total", 0))


def _in_language(request: Request, url: str) -> str:
    """The sandbox's page (the gateway's own) in the language this person reads the dashboard
    in: it has no session to read their setting from."""
    return billing_pages.with_language(url, reading(request).language)


async def _wallet_page(
    request: Request,
    viewer: Viewer,
    refused: FormErrors | None = None,
    *,
    checkout: dict[str, Any] | None = None,
    redeem: dict[str, Any] | None = None,
    subscribe: dict[str, Any] | None = None,
    voucher: dict[str, Any] | None = None,
) -> Response:
    svc = services(request)
    caller = viewer.caller
    # The ledger pages by key, as a client walking it does: each older page costs the same
    # however deep into the wallet's history it is. Anything but a cursor is the newest page.
    after = request.query_params.get("ledger_after", "")
    ledger_after = after if LEDGER_CURSOR.fullmatch(after) else ""
    history_page = page_number(request, "history")
    packs = (await perform(svc.waker, funding.list_packs(svc.db))).many(PackData)
    info = await perform(svc.waker, funding.topup_info(svc.db, svc.settings, caller))
    channels = info.one(TopupInfo).channels
    offered = (await perform(svc.waker, plans.public_plans(svc.db, caller))).many(PlanData)
    balance = (await perform(svc.waker, reads.balance(svc.db, caller))).one(BalanceData)
    subscribed = await perform(svc.waker, subscriptions.get_subscription(svc.db, caller))
    listed = funding.transactions(
        svc.db, caller, limit=LEDGER_PAGE_SIZE, cursor=int(ledger_after) if ledger_after else None
    )
    entries = await perform(svc.waker, listed)
    granted = await perform(svc.waker, grants.list_grants(svc.db, caller, limit=GRANTS_SHOWN))
    wanted = request.query_params.get("status", "")
    shown = wanted if wanted in _STATUSES else None
    history = await perform(svc.waker, orders.history(svc.db, caller, history_page, shown))
    entries_total, history_total = _total(entries), _total(history)
    context: dict[str, Any] = {
        "balance_cents": balance.balance_cents,
        "packs": packs,
        "payments_configured": viewer.env == "staging"
        or svc.settings.stripe_secret_key is not None,
        "channels": channels,
        "entries": entries.many(LedgerItem),
        "grants": granted.many(GrantData),
        "entries_total": entries_total,
        "ledger_after": ledger_after,
        "ledger_next": (entries.meta or {}).get("next_cursor"),
        "history": history.many(HistoryItem),
        "history_page": history_page,
        "history_pages": max(1, -(-history_total // HISTORY_PAGE_SIZE)),
        "notice": _NOTICES.get(request.query_params.get("notice", "")),
        "shown": shown,
        "statuses": _STATUSES,
        "custom": svc.settings.funding_custom_amounts,
        "min_cents": svc.settings.funding_min_cents,
        "max_cents": svc.settings.funding_max_cents,
        "checkout": checkout
        or {"pack_id": "", "amount": "", "coupon": "", "channel": "", "errors": {}},
        "redeem": redeem or {"code": "", "errors": {}},
        "voucher": voucher or {"code": "", "errors": {}, "done": None},
        "plans": offered,
        "subscription": balance.subscription,
        "open_checkout": subscribed.one(SubscriptionReply).open_checkout,
        "cancellable": open_checkouts.CANCELLABLE,
        "subscribe": subscribe or {"plan_id": "", "interval": "month", "errors": {}},
        "wallet_labels": _LABELS,
        # The check-in, the staging test clock and the paid periods: their own cards.
        **await cards_context(request, viewer),
        **await auto_top_up_context(request, viewer),
        **await alerts_context(request, viewer),
        **await payer_keys_context(request, viewer),
    }
    if refused is None:
        return page(request, "wallet/index.html", context)
    # A form refused: the page again with its status and headers (a limit's Retry-After).
    response = page(request, "wallet/index.html", context, status=refused.status)
    response.headers.update(refused.headers)
    return response


async def wallet_page(request: Request) -> Response:
    return await _wallet_page(request, await require_viewer(request))


def _base_url(request: Request) -> str:
    return public_base(services(request).settings)


async def checkout(request: Request) -> Response:
    """The API's checkout, then off to its page (Stripe's, or the staging sandbox's), which
    sends the payer back to the wallet. A custom amount and a coupon are judged before it, each
    on its own, so one post names every field to correct."""
    viewer = await require_viewer(request)
    data = await form(request)
    typed = {
        "pack_id": field(data, "pack_id", 40),
        "amount": field(data, "amount", 20).strip(),
        "coupon": field(data, "coupon", 40).strip(),
        "channel": field(data, "channel", 30).strip(),
    }
    svc = services(request)
    back = _base_url(request) + path_for("wallet_page")
    # An amount typed is the one bought, whichever pack the list still shows: a payer who typed
    # $30 never meant the $5 pack left picked above it.
    offered = svc.settings.funding_custom_amounts
    custom = typed["pack_id"] == CUSTOM or bool(offered and typed["amount"])
    if custom:
        typed["pack_id"] = CUSTOM
    refused = FormErrors()
    amount = None
    if custom:
        try:
            amount = dollars_to_cents(typed["amount"])
            pricing.check_amount(svc.settings, amount)
        except ApiError as exc:
            refused.add(exc, "amount")
    if typed["coupon"]:
        try:
            await orders.check_coupon(svc.db, typed["coupon"])
        except ApiError as exc:
            refused.add(exc, "coupon")
    if not refused:
        try:
            body = CheckoutRequest(
                channel=typed["channel"] or None,
                pack_id=None if custom else typed["pack_id"],
                amount_cents=amount,
                coupon=typed["coupon"] or None,
                success_url=back + "?notice=paid",
                cancel_url=back + "?notice=cancelled",
            )
            # The API's limit, in the same bucket.
            await merchant_limits.PAYMENT_CALLS.count(svc, viewer.merchant_id, viewer.env)
            operation = orders.checkout(
                svc.db,
                svc.settings,
                viewer.caller,
                body,
                own_origin=back,
            )
            made = (await perform(svc.waker, operation)).one(CheckoutData)
        except ValidationError as exc:
            refused.add(exc, fields=_CHECKOUT_FIELDS)
        except ApiError as exc:
            refused.add(exc, _REFUSAL_FIELD.get(exc.code, FORM))
        else:
            if registry.is_stand_in(made.provider):
                # The gateway's own page. The link alone can pay the order: no cache may keep it.
                return RedirectResponse(
                    _in_language(request, made.checkout_url),
                    303,
                    headers={"Cache-Control": "no-store"},
                )
            # The provider's page is on another site, and the dashboard's CSP (form-action
            # 'self') stops a form's redirect from leaving this one: the payer follows a link.
            found = registry.get(made.channel)
            title = found.title if found is not None else made.channel
            context = {"order": made, "channel_title": title}
            return page(request, "wallet/checkout.html", context, no_store=True)
    return await _wallet_page(
        request, viewer, refused, checkout={**typed, "errors": refused.errors}
    )


async def check_order(request: Request) -> Response:
    """ "Check payment": the order is looked up at its provider now, as the API's button does."""
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    order_id = request.path_params["order_id"]
    if not ORDER_ID.fullmatch(order_id):
        raise ApiError(Code.ORDER_NOT_FOUND)
    await merchant_limits.PAYMENT_CALLS.count(svc, viewer.merchant_id, viewer.env)
    await perform(
        svc.waker,
        reconcile.check_payment(
            svc.db, svc.settings, order_id, merchant_id=viewer.merchant_id, env=viewer.env
        ),
    )
    return RedirectResponse(path_for("wallet_page") + "?notice=checked", 303)


def _order_id(request: Request) -> str:
    order_id: str = request.path_params["order_id"]
    if not ORDER_ID.fullmatch(order_id):
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order_id


async def receipt_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await receipt_page_reply(request, viewer, _order_id(request), receipts.receipt)


async def receipt_pdf(request: Request) -> Response:
    """The receipt's PDF, as the API's ``/orders/{id}/receipt.pdf`` draws it."""
    viewer = await require_viewer(request)
    return await receipt_pdf_reply(request, viewer, _order_id(request), receipts.receipt_pdf)


async def redeem(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    code = field(data, "code", 64).strip()
    svc = services(request)
    refused = FormErrors()
    try:
        if not code:
            raise ApiError(Code.VALIDATION_FAILED, "Enter a redemption code.")
        # The API's limit, in the same bucket: every attempt counts, found or not.
        await merchant_limits.REDEEM.count(svc, viewer.merchant_id)
        await perform(svc.waker, redemption.redeem(svc.db, svc.settings, viewer.caller, code))
    except ApiError as exc:
        refused.add(exc, "code")
        return await _wallet_page(
            request, viewer, refused, redeem={"code": code, "errors": refused.errors}
        )
    return RedirectResponse(path_for("wallet_page") + "?notice=redeemed", 303)


async def redeem_voucher(request: Request) -> Response:
    """The API's ``POST /vouchers/redeem``: a voucher this merchant sent, taken back from its
    recipient once; the reply shown beside the form."""
    viewer = await require_viewer(request)
    data = await form(request)
    code = field(data, "voucher", 64).strip()
    svc = services(request)
    refused = FormErrors()
    try:
        if not code:
            raise ApiError(Code.VOUCHER_CODE_INVALID)
        done = await perform(svc.waker, vouchers.redeem(svc.db, svc.sealer, viewer.caller, code))
    except ApiError as exc:
        refused.add(exc, "voucher")
        return await _wallet_page(
            request, viewer, refused, voucher={"code": code, "errors": refused.errors, "done": None}
        )
    shown = {"code": "", "errors": {}, "done": RedeemedData.model_validate(done.data)}
    return await _wallet_page(request, viewer, voucher=shown)


async def subscribe(request: Request) -> Response:
    """The API's payment session for a plan, then off to its checkout (the sandbox's page, or
    a link to Stripe's, which the dashboard's CSP keeps a form from redirecting to)."""
    viewer = await require_viewer(request)
    data = await form(request)
    typed = {"plan_id": field(data, "plan_id", 40), "interval": field(data, "interval", 10)}
    svc = services(request)
    back = _base_url(request) + path_for("wallet_page")
    refused = FormErrors()
    try:
        body = PaymentSessionRequest.model_validate(
            {
                "channel": registry.default(viewer.env),
                "type": "subscription",
                "plan_id": typed["plan_id"] or None,
                "interval": typed["interval"] or None,
                "success_url": back + "?notice=subscribed",
                "cancel_url": back + "?notice=not-subscribed",
            }
        )
        await merchant_limits.PAYMENT_CALLS.count(svc, viewer.merchant_id, viewer.env)
        operation = subscriptions.create_session(
            svc.db, svc.settings, viewer.caller, body, own_origin=back
        )
        made = (await perform(svc.waker, operation)).one(PaymentSessionData)
    except ValidationError as exc:
        refused.add(exc, fields={"plan_id": "plan_id", "interval": "interval"})
    except ApiError as exc:
        refused.add(exc, "plan_id" if exc.code == Code.PLAN_NOT_FOUND else FORM)
    else:
        if registry.is_stand_in(made.channel):
            to = _in_language(request, made.url)
            return RedirectResponse(to, 303, headers={"Cache-Control": "no-store"})
        return page(request, "wallet/subscribe.html", {"session": made}, no_store=True)
    return await _wallet_page(
        request, viewer, refused, subscribe={**typed, "errors": refused.errors}
    )


async def manage_subscription(request: Request) -> Response:
    """The API's portal: the sandbox's page in staging, a link to Stripe's live."""
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    back = _base_url(request) + path_for("wallet_page")
    await merchant_limits.PAYMENT_CALLS.count(svc, viewer.merchant_id, viewer.env)
    operation = subscriptions.open_portal(
        svc.db, svc.settings, viewer.caller, back, own_origin=back
    )
    portal = (await perform(svc.waker, operation)).one(PortalData)
    if registry.is_stand_in(portal.channel):
        to = _in_language(request, portal.url)
        return RedirectResponse(to, 303, headers={"Cache-Control": "no-store"})
    return page(request, "wallet/subscribe.html", {"portal": portal}, no_store=True)


async def cancel_checkout(request: Request) -> Response:
    """The API's ``DELETE /subscription/checkout``: the open checkout ended, nothing charged."""
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    refused = FormErrors()
    try:
        await merchant_limits.PAYMENT_CALLS.count(svc, viewer.merchant_id, viewer.env)
        await perform(svc.waker, open_checkouts.cancel(svc.db, svc.settings, viewer.caller))
    except ApiError as exc:
        refused.add(exc, FORM)
        return await _wallet_page(
            request,
            viewer,
            refused,
            subscribe={"plan_id": "", "interval": "month", "errors": refused.errors},
        )
    return RedirectResponse(path_for("wallet_page") + "?notice=checkout-ended", 303)


routes: list[BaseRoute] = [
    Route("/wallet", wallet_page, methods=["GET"]),
    Route("/wallet/checkout", checkout, methods=["POST"]),
    Route("/wallet/redeem", redeem, methods=["POST"]),
    Route("/wallet/vouchers/take-back", redeem_voucher, methods=["POST"]),
    Route("/wallet/subscribe", subscribe, methods=["POST"]),
    Route("/wallet/subscription/portal", manage_subscription, methods=["POST"]),
    Route("/wallet/subscription/checkout/cancel", cancel_checkout, methods=["POST"]),
    Route("/wallet/orders/{order_id}/check", check_order, methods=["POST"]),
    Route("/wallet/orders/{order_id}/receipt", receipt_page, methods=["GET"]),
    Route("/wallet/orders/{order_id}/receipt.pdf", receipt_pdf, methods=["GET"]),
]
