"""Routes of the funding domain: packs, checkout, Stripe's webhook, redemption, history and
the staging sandbox checkout page."""

import logging
import re
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .. import idempotency, merchant_limits
from ..auth import require_caller
from ..billing import orders, pages, service
from ..billing.orders import sandbox as sandbox_orders
from ..billing.orders import sandbox_page as sandbox
from ..billing.schemas import (
    LEDGER_CURSOR,
    CheckoutData,
    CheckoutRequest,
    HistoryItem,
    HistoryQuery,
    InvoiceRequest,
    LedgerItem,
    LedgerQuery,
    OrderData,
    PackData,
    RedeemData,
    RedeemRequest,
    StripeAck,
    TopupInfo,
)
from ..billing.settling import reconcile
from ..billing.wallet import grants, redemption
from ..operations import perform
from ..ops.routing import BODY_ERRORS, CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.outcome import ApiError
from ..values.parsing import check_cursor, read_json, read_query
from ..values.public_base import public_base
from .answer import answer
from .payment_channels import stripe_webhook

__all__ = ["routes"]

log = logging.getLogger(__name__)

_ORDER_ID = re.compile(r"ord_[0-9A-Za-z]{24}")
# Stripe's Checkout Session ids: cs_test_… / cs_live_… and letters and digits.
_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")
_AUTH = KEY_ERRORS
_BODY = BODY_ERRORS
# What pricing an order can refuse: its pack or amount, its coupon, and the payment provider.
_PRICED = (
    Code.PACK_NOT_FOUND,
    Code.CUSTOM_AMOUNT_OFF,
    Code.CUSTOM_AMOUNT_INVALID,
    Code.COUPON_NOT_FOUND,
    Code.COUPON_EXPIRED,
    Code.COUPON_EXHAUSTED,
    Code.COUPON_NOT_APPLICABLE,
    Code.PAYMENTS_NOT_CONFIGURED,
    Code.PAYMENT_PROVIDER_ERROR,
    Code.PAYMENT_PROVIDER_TIMEOUT,
    Code.PAYMENT_SESSION_REPEATED,
    Code.PAYMENT_CHANNEL_UNKNOWN,
    Code.PAYMENT_CHANNEL_NOT_AVAILABLE,
    Code.PAYMENT_CHANNEL_NOT_ENABLED,
    Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
    Code.PAYMENT_CHANNEL_KIND_UNSUPPORTED,
    Code.CHANNEL_AMOUNT_NOT_OFFERED,
)


async def list_packs(request: Request) -> Response:
    require_caller(request, "billing")
    return await answer(request, service.list_packs(services(request).db))


async def topup_info(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    operation = service.topup_info(svc.db, svc.settings, caller)
    return await answer(request, operation)


async def create_checkout(request: Request) -> Response:
    """With an ``Idempotency-Key``, one order however often it is asked: the first reply again
    (``Idempotent-Replayed: true``), or 4003 for the same key with another body."""
    caller = require_caller(request, "billing")
    svc = services(request)
    key = idempotency.parse_key(request.headers.get("idempotency-key"))
    body, _ = await read_json(request, CheckoutRequest, limit=svc.settings.max_body_bytes)
    decision = await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    keyed = (
        None if key is None else orders.Keyed(key, svc.sealer, svc.settings.idempotency_ttl_seconds)
    )
    operation = orders.checkout(svc.db, svc.settings, caller, body, keyed=keyed)
    outcome = await perform(svc.waker, operation)
    headers = decision.headers()
    if outcome.replayed:
        headers[idempotency.REPLAYED_HEADER] = "true"
    return Envelope.of(outcome, headers=headers)


async def create_invoice(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    body, _ = await read_json(request, InvoiceRequest, limit=svc.settings.max_body_bytes)
    decision = await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    operation = orders.invoice(svc.db, svc.settings, caller, body)
    return await answer(request, operation, headers=decision.headers())


async def checkout_return(request: Request) -> Response:
    """Where a provider sends the payer after paying (Stripe's ``?session_id=``, every other
    channel's ``?order=``): the order is looked up at its provider (credited if paid, once,
    whoever else is at it; a redirect is no proof of payment), then the payer goes on to the
    merchant's success_url. The provider not answering does not keep the payer here: the sweep
    looks again. The look-up counts in the merchant's payment calls (anyone holding the link may
    come back at will); past the limit the payer goes on unchecked, and the sweep looks."""
    svc = services(request)
    session_id = request.query_params.get("session_id", "")
    order_id = request.query_params.get("order")
    if order_id is not None:
        if not _ORDER_ID.fullmatch(order_id):
            raise ApiError(Code.ORDER_NOT_FOUND)
        order = await orders.landed_order(svc.db, order_id)
    elif _SESSION_ID.fullmatch(session_id):
        order = await reconcile.order_of_session(svc.db, session_id)
    else:
        raise ApiError(Code.ORDER_NOT_FOUND)
    try:
        await merchant_limits.PAYMENT_CALLS.count(svc, order.merchant_id, order.env)
        checked = await perform(svc.waker, reconcile.check_payment(svc.db, svc.settings, order.id))
    except ApiError as exc:
        if exc.code == Code.ORDER_NOT_FOUND:
            raise
        log.warning("order %s not checked on return: %s", order.id, exc.code.name)
        checked = None
    landing = orders.landing(
        svc.settings, order.env, order.success_url, own_origin=public_base(svc.settings)
    )
    if _wants_json(request) or landing is None:
        if checked is None:
            raise ApiError(Code.PAYMENT_PROVIDER_ERROR)
        return Envelope.of(checked)
    landing = landing.replace("{CHECKOUT_SESSION_ID}", session_id or order.id)
    return RedirectResponse(landing, status_code=303)


async def redeem_code(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    body, _ = await read_json(request, RedeemRequest, limit=svc.settings.max_body_bytes)
    # Every attempt counts, found or not: the limit is on guessing codes.
    decision = await merchant_limits.REDEEM.count(svc, caller.merchant_id)
    operation = redemption.redeem(svc.db, svc.settings, caller, body.code)
    return await answer(request, operation, headers=decision.headers())


async def funding_history(request: Request) -> Response:
    caller = require_caller(request, "billing")
    query = read_query(request, HistoryQuery)
    operation = orders.history(services(request).db, caller, query.page, query.status)
    return await answer(request, operation)


async def ledger_transactions(request: Request) -> Response:
    caller = require_caller(request, "billing")
    query = read_query(request, LedgerQuery)
    check_cursor(query.cursor, LEDGER_CURSOR)
    operation = service.transactions(
        services(request).db,
        caller,
        limit=query.limit,
        offset=query.offset,
        cursor=None if query.cursor is None else int(query.cursor),
    )
    return await answer(request, operation)


async def credit_grants(request: Request) -> Response:
    caller = require_caller(request, "billing")
    query = read_query(request, grants.GrantsQuery)
    operation = grants.list_grants(
        services(request).db, caller, limit=query.limit, offset=query.offset
    )
    return await answer(request, operation)


def _sandbox_args(request: Request) -> tuple[str, str]:
    order_id: str = request.path_params["order_id"]
    token = request.query_params.get("token", "")
    if not _ORDER_ID.fullmatch(order_id) or not token:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order_id, token


def _in_language(request: Request, landing: str) -> str:
    """The gateway's own landing page in the language the sandbox page was read in; a
    merchant's own page as it was given."""
    if urlsplit(landing).path != orders.DONE_PATH:
        return landing
    language = pages.reading(request, services(request).languages).language
    return pages.with_language(landing, language)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def sandbox_page(request: Request) -> Response:
    svc = services(request)
    order_id, token = _sandbox_args(request)
    order = await sandbox_orders.sandbox_order(svc.db, svc.settings, order_id, token)
    return HTMLResponse(
        sandbox.render_page(order, token, utcnow(), pages.reading(request, svc.languages)),
        headers={"Referrer-Policy": "no-referrer"},
    )


async def sandbox_pay(request: Request) -> Response:
    svc = services(request)
    order_id, token = _sandbox_args(request)
    paid = await perform(
        svc.waker, sandbox_orders.pay_sandbox(svc.db, svc.settings, order_id, token)
    )
    order = await sandbox_orders.sandbox_order(svc.db, svc.settings, order_id, token)
    # Only to the URL stored on the order, and only if it passes the return URLs' rule.
    landing = orders.landing(
        svc.settings, order.env, order.success_url, own_origin=public_base(svc.settings)
    )
    if _wants_json(request) or landing is None:
        return Envelope.of(paid)
    # As Stripe does, so one success page serves both; the sandbox's session is the order.
    landing = landing.replace("{CHECKOUT_SESSION_ID}", order_id)
    return RedirectResponse(_in_language(request, landing), status_code=303)


async def checkout_done(request: Request) -> Response:
    """The gateway's own landing page of a checkout made without return URLs (HTML)."""
    order_id = request.query_params.get("order", "")
    if not _ORDER_ID.fullmatch(order_id):
        raise ApiError(Code.ORDER_NOT_FOUND)
    order = await orders.landed_order(services(request).db, order_id)
    cancelled = request.query_params.get("cancelled") == "1"
    read_in = pages.reading(request, services(request).languages)
    return HTMLResponse(
        sandbox.render_done(order, cancelled=cancelled, reading=read_in),
        headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
    )


async def sandbox_cancel(request: Request) -> Response:
    svc = services(request)
    order_id, token = _sandbox_args(request)
    cancelled = await perform(
        svc.waker, sandbox_orders.cancel_sandbox(svc.db, svc.settings, order_id, token)
    )
    order = await sandbox_orders.sandbox_order(svc.db, svc.settings, order_id, token)
    landing = orders.landing(
        svc.settings, order.env, order.cancel_url, own_origin=public_base(svc.settings)
    )
    if _wants_json(request) or landing is None:
        return Envelope.of(cancelled)
    return RedirectResponse(_in_language(request, landing), status_code=303)


_SANDBOX_ERRORS = (Code.ORDER_NOT_FOUND, Code.ORDER_NOT_PAYABLE, Code.ORDER_EXPIRED)

routes = [
    ApiRoute(
        "/topup/packs",
        list_packs,
        methods=["GET"],
        doc=RouteDoc(
            "Packs on sale to fund the wallet",
            "billing",
            response=PackData,
            many=True,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        "/billing/topup-info",
        topup_info,
        methods=["GET"],
        doc=RouteDoc(
            "What funding offers here: packs, custom amounts (min, max, step, options), "
            "discount tiers, payment providers, redemption",
            "billing",
            response=TopupInfo,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        "/billing/checkout",
        create_checkout,
        methods=["POST"],
        doc=RouteDoc(
            "Buy a pack ({pack_id}) or a custom amount ({amount_cents}) through a channel "
            "({channel}; unset: Stripe in live, the sandbox in staging): the provider's page "
            "(live) or the sandbox page titled for the channel (staging), absolute, for a "
            "person to open; without success_url and cancel_url the payer lands on "
            "GET /billing/checkout/done. With an Idempotency-Key, one order however often it "
            "is asked: the first reply again, or 4003 for the same key with another body",
            "billing",
            body=CheckoutRequest,
            response=CheckoutData,
            success=Code.CREATED,
            errors=(
                *_AUTH,
                *_BODY,
                *_PRICED,
                Code.RETURN_URL_INVALID,
                Code.OPEN_ORDERS_LIMIT_REACHED,
                Code.PAYMENT_CALLS_RATE_LIMITED,
                Code.INVALID_IDEMPOTENCY_KEY,
                Code.IDEMPOTENCY_KEY_REUSED,
            ),
            secret=True,  # checkout_url is enough to pay a sandbox order
            forms=True,
        ),
    ),
    ApiRoute(
        "/billing/invoice",
        create_invoice,
        methods=["POST"],
        doc=RouteDoc(
            "An invoice order (live): Stripe e-mails an invoice for a pack or a custom amount "
            "to email (one of the merchant's users); data.invoice_url is its page; credited "
            "once when paid",
            "billing",
            body=InvoiceRequest,
            response=OrderData,
            success=Code.CREATED,
            errors=(
                *_AUTH,
                *_BODY,
                Code.INVOICE_NOT_AVAILABLE,
                Code.INVOICE_EMAIL_NOT_ALLOWED,
                *_PRICED,
                Code.PAYMENT_CALLS_RATE_LIMITED,
            ),
            forms=True,  # seed 004's invoice order is posted as a form
        ),
    ),
    ApiRoute(
        "/billing/checkout/return",
        checkout_return,
        methods=["GET"],
        doc=RouteDoc(
            "Where a provider returns the payer (Stripe's ?session_id=, other channels' "
            "?order=): the order is looked up at its provider and credited if paid, then 303 "
            "to the checkout's success_url (an envelope with Accept: application/json)",
            "billing",
            auth="none",
            success=Code.PAYMENT_CHECKED,
            errors=(Code.ORDER_NOT_FOUND, Code.PAYMENT_PROVIDER_ERROR),
        ),
    ),
    ApiRoute(
        "/billing/checkout/done",
        checkout_done,
        methods=["GET"],
        doc=RouteDoc(
            "Where a checkout made without success_url or cancel_url lands its payer (HTML, "
            "?order=): the wallet funded and what was credited, the payment pending, or "
            "cancelled",
            "billing",
            auth="none",
            errors=(Code.ORDER_NOT_FOUND,),
        ),
    ),
    ApiRoute(
        "/billing/redeem",
        redeem_code,
        methods=["POST"],
        doc=RouteDoc(
            "Redeem a code into the wallet of the key's environment",
            "billing",
            body=RedeemRequest,
            response=RedeemData,
            errors=(
                *_AUTH,
                *_BODY,
                Code.REDEMPTION_CODE_UNKNOWN,
                Code.REDEMPTION_CODE_USED,
                Code.REDEMPTION_CODE_EXPIRED,
                Code.REDEMPTION_CODE_VOIDED,
                Code.REDEMPTION_CODE_WRONG_ENV,
                Code.REDEMPTION_RATE_LIMITED,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
    ApiRoute(
        "/billing/history",
        funding_history,
        methods=["GET"],
        doc=RouteDoc(
            "Funding history: checkouts, invoices and redemptions, 20 a page, newest first; "
            "?status= filters",
            "billing",
            query=HistoryQuery,
            response=HistoryItem,
            many=True,
            errors=(*_AUTH, Code.INVALID_QUERY),
        ),
    ),
    ApiRoute(
        "/billing/transactions",
        ledger_transactions,
        methods=["GET"],
        doc=RouteDoc(
            "The wallet's ledger, newest first, by offset or by cursor",
            "billing",
            query=LedgerQuery,
            response=LedgerItem,
            many=True,
            errors=(*_AUTH, *CURSOR_ERRORS),
        ),
    ),
    ApiRoute(
        "/billing/credit-grants",
        credit_grants,
        methods=["GET"],
        doc=RouteDoc(
            "The wallet's credit grants, newest first: what each gave, what is left, its "
            "category, priority and expiry (the balance is the sum of what is left)",
            "billing",
            query=grants.GrantsQuery,
            response=grants.GrantData,
            many=True,
            errors=(*_AUTH, Code.INVALID_QUERY),
        ),
    ),
    ApiRoute(
        "/payments/stripe/webhook",
        stripe_webhook,
        methods=["POST"],
        doc=RouteDoc(
            "Stripe's events (Stripe-Signature verified); credits each paid order once",
            "billing",
            auth="signed",
            signature_header="Stripe-Signature",
            response=StripeAck,
            errors=(
                Code.STRIPE_SIGNATURE_INVALID,
                Code.STRIPE_WEBHOOK_NOT_CONFIGURED,
                Code.STRIPE_EVENT_MALFORMED,
                Code.STRIPE_EVENT_NOT_PROCESSED,
                Code.PAYMENT_NOTICES_RATE_LIMITED,
                Code.BODY_TOO_LARGE,
            ),
        ),
    ),
    ApiRoute(
        "/billing/sandbox/checkout/{order_id}",
        sandbox_page,
        methods=["GET"],
        doc=RouteDoc(
            "The staging sandbox checkout page (HTML), opened from checkout_url",
            "billing",
            auth="none",
            errors=(Code.ORDER_NOT_FOUND,),
            secret=True,  # the page carries the order's token
        ),
    ),
    ApiRoute(
        "/billing/sandbox/checkout/{order_id}/pay",
        sandbox_pay,
        methods=["POST"],
        doc=RouteDoc(
            "Pay a sandbox order: credits it as a paid Stripe event would, then 303 to "
            "success_url (an envelope with Accept: application/json); 410 once it expired",
            "billing",
            auth="none",
            errors=_SANDBOX_ERRORS,
        ),
    ),
    ApiRoute(
        "/billing/sandbox/checkout/{order_id}/cancel",
        sandbox_cancel,
        methods=["POST"],
        doc=RouteDoc(
            "Give up on a sandbox order: it fails, then 303 to cancel_url; 409 if it was paid "
            "first, 410 if it expired",
            "billing",
            auth="none",
            errors=_SANDBOX_ERRORS,
        ),
    ),
]
