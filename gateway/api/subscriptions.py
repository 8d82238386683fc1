"""Routes of plans and subscriptions (the seed's billing API): the plans on sale, a payment
session of either type, the subscription, its portal, Stripe's webhook at the seed's path, and
the staging sandbox's subscription checkout and portal pages."""

import re

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .. import merchant_limits
from ..auth import require_caller
from ..billing import pages, subscriptions
from ..billing.channels.providers.sandbox import SUBSCRIPTION_PATH
from ..billing.schemas import StripeAck
from ..billing.subscriptions import (
    open_checkouts,
    plans,
    sandbox_pages,
)
from ..billing.subscriptions import (
    sandbox as subscription_sandbox,
)
from ..billing.subscriptions.schemas import (
    PaymentSessionData,
    PaymentSessionRequest,
    PlanData,
    PortalData,
    PortalRequest,
    SubscriptionReply,
)
from ..operations import perform
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.outcome import ApiError
from ..values.parsing import read_json
from ..values.text import NUL
from .answer import answer
from .payment_channels import stripe_webhook

__all__ = ["routes"]

_SUB_ID = re.compile(r"sub_[0-9A-Za-z]{24}")
_PROVIDER = (
    Code.PAYMENTS_NOT_CONFIGURED,
    Code.PAYMENT_PROVIDER_ERROR,
    Code.PAYMENT_PROVIDER_TIMEOUT,
)
_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
_ACTIONS = ("cancel", "resume", "change", "card")


async def list_plans(request: Request) -> Response:
    caller = require_caller(request, "billing")
    return await answer(request, plans.public_plans(services(request).db, caller))


async def get_subscription(request: Request) -> Response:
    caller = require_caller(request, "billing")
    return await answer(request, subscriptions.get_subscription(services(request).db, caller))


async def create_session(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    body, _ = await read_json(request, PaymentSessionRequest, limit=svc.settings.max_body_bytes)
    decision = await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    operation = subscriptions.create_session(svc.db, svc.settings, caller, body)
    return await answer(request, operation, headers=decision.headers())


async def open_portal(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    body, _ = await read_json(request, PortalRequest, limit=svc.settings.max_body_bytes)
    decision = await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    operation = subscriptions.open_portal(svc.db, svc.settings, caller, body.return_url)
    return await answer(request, operation, headers=decision.headers())


async def cancel_checkout(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    decision = await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    operation = open_checkouts.cancel(svc.db, svc.settings, caller)
    return await answer(request, operation, headers=decision.headers())


def _sandbox_args(request: Request) -> tuple[str, str]:
    sub_id: str = request.path_params["sub_id"]
    token = request.query_params.get("token", "")
    if not _SUB_ID.fullmatch(sub_id) or not token:
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    return sub_id, token


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _base(sub_id: str) -> str:
    return f"{SUBSCRIPTION_PATH}/{sub_id}"


async def sandbox_checkout(request: Request) -> Response:
    svc = services(request)
    sub_id, token = _sandbox_args(request)
    sub, plan = await subscription_sandbox.sandbox_subscription(svc.db, svc.settings, sub_id, token)
    read_in = pages.reading(request, svc.languages)
    page = sandbox_pages.render_checkout(sub, plan, _base(sub_id), token, utcnow(), read_in)
    return HTMLResponse(page, headers=_PAGE_HEADERS)


async def sandbox_pay(request: Request) -> Response:
    svc = services(request)
    sub_id, token = _sandbox_args(request)
    paid = await perform(
        svc.waker, subscription_sandbox.pay_sandbox(svc.db, svc.settings, sub_id, token)
    )
    sub, _ = await subscription_sandbox.sandbox_subscription(svc.db, svc.settings, sub_id, token)
    if _wants_json(request) or not sub.success_url:
        return Envelope.of(paid)
    return RedirectResponse(sub.success_url, status_code=303)


async def sandbox_cancel(request: Request) -> Response:
    svc = services(request)
    sub_id, token = _sandbox_args(request)
    operation = subscription_sandbox.cancel_sandbox(svc.db, svc.settings, sub_id, token)
    cancelled = await perform(svc.waker, operation)
    sub, _ = await subscription_sandbox.sandbox_subscription(svc.db, svc.settings, sub_id, token)
    if _wants_json(request) or not sub.cancel_url:
        return Envelope.of(cancelled)
    return RedirectResponse(sub.cancel_url, status_code=303)


async def sandbox_portal(request: Request) -> Response:
    svc = services(request)
    sub_id, token = _sandbox_args(request)
    sub, plan, offered = await subscription_sandbox.portal_page(svc.db, svc.settings, sub_id, token)
    base = f"{_base(sub_id)}/portal"
    read_in = pages.reading(request, svc.languages)
    page = sandbox_pages.render_portal(sub, plan, offered, base, token, utcnow(), read_in)
    return HTMLResponse(page, headers=_PAGE_HEADERS)


def _field(form: object, name: str) -> str | None:
    value = form.get(name) if hasattr(form, "get") else None
    if isinstance(value, str) and NUL in value:
        raise ApiError(Code.TEXT_HOLDS_NUL)
    return value if isinstance(value, str) and len(value) <= 40 else None


async def sandbox_portal_action(request: Request) -> Response:
    svc = services(request)
    sub_id, token = _sandbox_args(request)
    action = request.path_params["action"]
    if action not in _ACTIONS:
        raise ApiError(Code.ROUTE_NOT_FOUND)
    form = await request.form(max_files=0, max_fields=10)
    fails = _field(form, "fails")
    operation = subscription_sandbox.sandbox_action(
        svc.db,
        svc.settings,
        sub_id,
        token,
        action,
        plan_id=_field(form, "plan_id"),
        interval=_field(form, "interval"),
        card_fails=None if fails is None else fails == "1",
    )
    changed = await perform(svc.waker, operation)
    if _wants_json(request):
        return Envelope.of(changed)
    back = f"{_base(sub_id)}/portal?token={token}"
    read_in = pages.reading(request, svc.languages)
    return RedirectResponse(pages.with_language(back, read_in.language), status_code=303)


_SANDBOX = (Code.SUBSCRIPTION_NOT_FOUND, Code.SUBSCRIPTION_NOT_CHANGEABLE)

routes = [
    ApiRoute(
        "/subscription/plans",
        list_plans,
        methods=["GET"],
        doc=RouteDoc(
            "The subscription plans on sale in the key's environment",
            "billing",
            response=PlanData,
            many=True,
            errors=KEY_ERRORS,
        ),
    ),
    ApiRoute(
        "/subscription",
        get_subscription,
        methods=["GET"],
        doc=RouteDoc(
            "The merchant's subscription in the key's environment (data.subscription null when "
            "none)",
            "billing",
            response=SubscriptionReply,
            errors=KEY_ERRORS,
        ),
    ),
    ApiRoute(
        "/payment/create-session",
        create_session,
        methods=["POST"],
        doc=RouteDoc(
            'A payment session: type "subscription" subscribes to plan_id (Stripe Checkout '
            'in subscription mode live, the sandbox in staging); type "topup" is a pack\'s '
            "checkout (POST /billing/checkout) through channel. data.url is where to send "
            "the payer",
            "billing",
            body=PaymentSessionRequest,
            response=PaymentSessionData,
            success=Code.CREATED,
            errors=(
                *KEY_ERRORS,
                *BODY_ERRORS,
                Code.PAYMENT_CHANNEL_UNKNOWN,
                Code.PAYMENT_CHANNEL_NOT_AVAILABLE,
                Code.PAYMENT_CHANNEL_NOT_ENABLED,
                Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
                Code.CHANNEL_AMOUNT_NOT_OFFERED,
                Code.PLAN_NOT_FOUND,
                Code.PLAN_NOT_PURCHASABLE,
                Code.SUBSCRIPTION_EXISTS,
                Code.SUBSCRIPTION_CHECKOUT_OPEN,
                Code.PACK_NOT_FOUND,
                Code.RETURN_URL_INVALID,
                Code.OPEN_ORDERS_LIMIT_REACHED,
                Code.PAYMENT_CALLS_RATE_LIMITED,
                *_PROVIDER,
            ),
            secret=True,  # a sandbox url is enough to pay
            forms=True,
        ),
    ),
    ApiRoute(
        "/subscription/portal",
        open_portal,
        methods=["POST"],
        doc=RouteDoc(
            "Where the merchant manages its subscription: Stripe's billing portal (live), the "
            "sandbox portal (staging); data.url",
            "billing",
            body=PortalRequest,
            response=PortalData,
            errors=(
                *KEY_ERRORS,
                *BODY_ERRORS,
                Code.SUBSCRIPTION_NOT_FOUND,
                Code.SUBSCRIPTION_CHECKOUT_OPEN,
                Code.RETURN_URL_INVALID,
                Code.PAYMENT_CALLS_RATE_LIMITED,
                *_PROVIDER,
            ),
            secret=True,
            forms=True,
        ),
    ),
    ApiRoute(
        "/subscription/checkout",
        cancel_checkout,
        methods=["DELETE"],
        doc=RouteDoc(
            "Cancel the open, unpaid subscription checkout (GET /subscription's "
            "open_checkout): nothing is charged and a new one may be opened. The sandbox's and "
            "Stripe's (expired at Stripe first); another channel's ends at its expires_at",
            "billing",
            errors=(
                *KEY_ERRORS,
                Code.SUBSCRIPTION_CHECKOUT_NOT_OPEN,
                Code.SUBSCRIPTION_CHECKOUT_NOT_CANCELLABLE,
                Code.SUBSCRIPTION_NOT_CHANGEABLE,
                Code.PAYMENT_CALLS_RATE_LIMITED,
                *_PROVIDER,
            ),
        ),
    ),
    ApiRoute(
        "/payment/webhook/stripe",
        stripe_webhook,
        methods=["POST"],
        doc=RouteDoc(
            "Stripe's events at the seed's path: the same as POST /payments/stripe/webhook",
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
        "/subscription/sandbox/{sub_id}",
        sandbox_checkout,
        methods=["GET"],
        doc=RouteDoc(
            "The staging sandbox's subscription checkout page (HTML), opened from data.url",
            "billing",
            auth="none",
            errors=(Code.SUBSCRIPTION_NOT_FOUND,),
            secret=True,
        ),
    ),
    ApiRoute(
        "/subscription/sandbox/{sub_id}/pay",
        sandbox_pay,
        methods=["POST"],
        doc=RouteDoc(
            "Subscribe on the sandbox checkout: the first period paid and credited, then 303 "
            "to success_url (an envelope with Accept: application/json)",
            "billing",
            auth="none",
            errors=_SANDBOX,
        ),
    ),
    ApiRoute(
        "/subscription/sandbox/{sub_id}/cancel",
        sandbox_cancel,
        methods=["POST"],
        doc=RouteDoc(
            "Give up on the sandbox checkout, then 303 to cancel_url",
            "billing",
            auth="none",
            errors=_SANDBOX,
        ),
    ),
    ApiRoute(
        "/subscription/sandbox/{sub_id}/portal",
        sandbox_portal,
        methods=["GET"],
        doc=RouteDoc(
            "The staging sandbox's billing portal (HTML): change plan, cancel at period end, "
            "resume, make the card fail at the next renewal",
            "billing",
            auth="none",
            errors=(Code.SUBSCRIPTION_NOT_FOUND,),
            secret=True,
        ),
    ),
    ApiRoute(
        "/subscription/sandbox/{sub_id}/portal/{action}",
        sandbox_portal_action,
        methods=["POST"],
        doc=RouteDoc(
            "A sandbox portal action (cancel, resume, change {plan_id, interval}, card "
            "{fails}), then 303 back to the portal",
            "billing",
            auth="none",
            success=Code.SUBSCRIPTION_CHANGED,
            errors=(*_SANDBOX, Code.PLAN_NOT_FOUND, Code.ROUTE_NOT_FOUND),
        ),
    ),
]
