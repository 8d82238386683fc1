"""Routes of the daily check-in and the staging test clock."""

from starlette.requests import Request
from starlette.responses import Response

from .. import merchant_limits
from ..auth import require_caller
from ..billing import sandbox_clock
from ..billing.checkin import daily as checkin
from ..billing.checkin.schemas import CheckInData
from ..billing.sandbox_clock import ClockAdvance, ClockData
from ..billing.subscriptions import renewals as subscription_channels
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]


async def check_in(request: Request) -> Response:
    caller = require_caller(request, "billing")
    return await answer(request, checkin.check_in(services(request).db, caller))


async def get_clock(request: Request) -> Response:
    caller = require_caller(request, "billing")
    return await answer(request, sandbox_clock.read(services(request).db, caller))


async def advance_clock(request: Request) -> Response:
    caller = require_caller(request, "billing")
    svc = services(request)
    body, _ = await read_json(request, ClockAdvance, limit=svc.settings.max_body_bytes)
    sandbox_clock.staging_only(caller)
    decision = await merchant_limits.TEST_CLOCK_ADVANCE.count(svc, caller.merchant_id)
    operation = subscription_channels.advance_clock(svc.db, caller, body.seconds)
    return await answer(request, operation, headers=decision.headers())


routes = [
    ApiRoute(
        "/checkin",
        check_in,
        methods=["POST"],
        doc=RouteDoc(
            "Daily check-in: a reward between the operator's bounds credited to the wallet of "
            "the key's environment, once per UTC day (the staging test clock's day in staging); "
            "no body",
            "billing",
            response=CheckInData,
            success=Code.CHECKED_IN,
            errors=(*KEY_ERRORS, Code.CHECKIN_ALREADY_DONE, Code.CHECKIN_DISABLED),
        ),
    ),
    ApiRoute(
        "/sandbox/clock",
        get_clock,
        methods=["GET"],
        doc=RouteDoc(
            "The staging test clock: the merchant's staging time (real time plus its offset)",
            "wallet",
            response=ClockData,
            errors=(*KEY_ERRORS, Code.TEST_CLOCK_STAGING_ONLY),
        ),
    ),
    ApiRoute(
        "/sandbox/clock/advance",
        advance_clock,
        methods=["POST"],
        doc=RouteDoc(
            "Move the staging test clock forward by {seconds} (at most 400 days a call, 10 years "
            "in all, 10 calls a minute; never back): check-in days and staging renewals follow "
            "it, and the credit grants whose expiry it passes lapse before it answers",
            "wallet",
            body=ClockAdvance,
            response=ClockData,
            errors=(
                *KEY_ERRORS,
                *BODY_ERRORS,
                Code.TEST_CLOCK_STAGING_ONLY,
                Code.TEST_CLOCK_TOO_FAR,
                Code.TEST_CLOCK_RATE_LIMITED,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
]
