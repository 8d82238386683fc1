"""Routes of the merchant's billing profile: what its receipts say it is (legal name, address,
country, tax id)."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..billing.receipts import profile
from ..billing.receipts.schemas import BillingProfileReply, BillingProfileRequest
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]


async def get_profile(request: Request) -> Response:
    caller = require_caller(request, "billing")
    return await answer(request, profile.get_profile(services(request).db, caller.merchant_id))


async def put_profile(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    body, _ = await read_json(request, BillingProfileRequest, limit=svc.settings.max_body_bytes)
    return await answer(request, profile.put_profile(svc.db, caller, body))


routes = [
    ApiRoute(
        "/billing/profile",
        get_profile,
        methods=["GET"],
        doc=RouteDoc(
            "The merchant's billing profile (one per merchant, whichever key's environment): "
            "what receipts paid from now on carry; every field null until one is saved",
            "billing",
            response=BillingProfileReply,
            errors=KEY_ERRORS,
        ),
    ),
    ApiRoute(
        "/billing/profile",
        put_profile,
        methods=["PUT"],
        doc=RouteDoc(
            "Replace the billing profile (live key only; an owner in the dashboard): legal "
            "name, address, ISO 3166-1 alpha-2 country, tax id. Receipts already issued keep "
            "the profile they were paid under",
            "billing",
            body=BillingProfileRequest,
            response=BillingProfileReply,
            success=Code.BILLING_PROFILE_SAVED,
            errors=(*KEY_ERRORS, *BODY_ERRORS, Code.BILLING_PROFILE_LIVE_ONLY),
        ),
    ),
]
