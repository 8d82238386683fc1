"""Routes of a wallet's auto top-up: read, set and delete it, and save the payment method it
charges (``billing.auto_top_up``). Each can charge the merchant's card: the merchant's own key
with ``billing:card`` alone (``callers.require_card``, checked before anything is counted),
never an app; the wallet of the key's environment."""

from starlette.requests import Request
from starlette.responses import Response

from .. import merchant_limits
from ..auth import require_caller
from ..billing import auto_top_up
from ..billing.auto_top_up.schemas import AutoTopUpData, AutoTopUpRequest, SetupData, SetupRequest
from ..callers import Caller, require_card
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]

PATH = "/wallet/auto-top-up"
_AUTH = (*KEY_ERRORS, Code.CARD_FOR_MERCHANT_ONLY)


def _card_holder(request: Request) -> Caller:
    caller = require_caller(request, None)
    require_card(caller)
    return caller


async def get_auto_top_up(request: Request) -> Response:
    caller = _card_holder(request)
    svc = services(request)
    return await answer(request, auto_top_up.read(svc.db, svc.settings, caller))


async def put_auto_top_up(request: Request) -> Response:
    caller = _card_holder(request)
    svc = services(request)
    body, _ = await read_json(request, AutoTopUpRequest, limit=svc.settings.max_body_bytes)
    return await answer(request, auto_top_up.save(svc.db, svc.settings, caller, body, utcnow()))


async def delete_auto_top_up(request: Request) -> Response:
    caller = _card_holder(request)
    return await answer(request, auto_top_up.remove(services(request).db, caller))


async def post_setup(request: Request) -> Response:
    caller = _card_holder(request)
    svc = services(request)
    body = SetupRequest()
    if request.headers.get("content-length", "0") != "0":
        body, _ = await read_json(request, SetupRequest, limit=svc.settings.max_body_bytes)
    # Live opens a page at Stripe: the merchant's bucket of payment calls, as a checkout's.
    decision = await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    operation = auto_top_up.setup(svc.db, svc.settings, caller, body, utcnow())
    return await answer(request, operation, headers=decision.headers())


routes = [
    ApiRoute(
        PATH,
        get_auto_top_up,
        methods=["GET"],
        doc=RouteDoc(
            "The wallet's auto top-up: threshold, target or amount, monthly cap and what this "
            "month took, the saved payment method, failures in a row, and the latest runs",
            "wallet",
            response=AutoTopUpData,
            errors=(*_AUTH, Code.AUTO_TOP_UP_NOT_FOUND),
        ),
    ),
    ApiRoute(
        PATH,
        put_auto_top_up,
        methods=["PUT"],
        doc=RouteDoc(
            "Set the wallet's auto top-up: when a debit takes it under threshold_cents, charge "
            "the saved payment method for target_cents less the balance (or amount_cents), at "
            "most monthly_cap_cents a calendar month, one at a time. Saving counts failures "
            "back to zero",
            "wallet",
            body=AutoTopUpRequest,
            response=AutoTopUpData,
            errors=(
                *_AUTH,
                *BODY_ERRORS,
                Code.AUTO_TOP_UP_INVALID,
                Code.AUTO_TOP_UP_NO_PAYMENT_METHOD,
            ),
        ),
    ),
    ApiRoute(
        PATH,
        delete_auto_top_up,
        methods=["DELETE"],
        doc=RouteDoc(
            "Turn auto top-up off and forget its settings and saved payment method",
            "wallet",
            success=Code.DELETED,
            errors=(*_AUTH, Code.AUTO_TOP_UP_NOT_FOUND),
        ),
    ),
    ApiRoute(
        f"{PATH}/setup",
        post_setup,
        methods=["POST"],
        doc=RouteDoc(
            "Save the payment method auto top-up charges. Staging: the sandbox's test card "
            "named (pm_card_visa; pm_card_chargeDeclined and pm_card_authenticationRequired "
            "are refused when charged), saved at once. Live: Stripe Checkout in setup mode",
            "wallet",
            body=SetupRequest,
            response=SetupData,
            errors=(
                *_AUTH,
                *BODY_ERRORS,
                Code.AUTO_TOP_UP_INVALID,
                Code.AUTO_TOP_UP_CHANNEL_UNAVAILABLE,
                Code.PAYMENT_CALLS_RATE_LIMITED,
            ),
        ),
    ),
]
