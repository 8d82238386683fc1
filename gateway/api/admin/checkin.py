"""The admin routes of the daily check-in's settings."""

from starlette.requests import Request
from starlette.responses import Response

from ...admin import checkin as checkin_config
from ...admin.audit import Call
from ...billing.checkin.schemas import CheckInConfigData, CheckInConfigs, CheckInConfigUpdate
from ...services import services
from ...values.parsing import read_json
from ..answer import answer
from .door import route

__all__ = ["routes"]


async def get_checkin_config(request: Request, call: Call) -> Response:
    return await answer(request, checkin_config.configs(services(request).db))


async def put_checkin_config(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(
        request,
        CheckInConfigUpdate,
        limit=svc.settings.max_body_bytes,
        context={"max_topup_cents": svc.settings.max_topup_cents},
    )
    return await answer(request, checkin_config.set_config(svc.db, call, body))


routes = [
    route(
        "/checkin/config",
        get_checkin_config,
        "GET",
        "checkin.config.get",
        "The daily check-in's settings of both environments (defaults where never set: "
        "staging on, 10 to 100 cents; live off)",
        response=CheckInConfigs,
    ),
    route(
        "/checkin/config",
        put_checkin_config,
        "PUT",
        "checkin.config.set",
        "Set one environment's daily check-in: on or off, and the reward's bounds in cents "
        "(0 < min_cents <= max_cents <= AITOPUP_MAX_TOPUP_CENTS)",
        body=CheckInConfigUpdate,
        response=CheckInConfigData,
    ),
]
