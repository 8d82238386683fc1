"""Routes of a wallet's low-balance levels (``billing.wallet.alerts``): read and set them, for
the wallet of the key's environment, with the ``billing`` scope."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..billing.wallet import alerts
from ..callers import Caller, require_scope
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]

PATH = "/wallet/alerts"
_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING)


def _caller(request: Request) -> Caller:
    caller = require_caller(request, None)
    require_scope(caller, "billing")
    return caller


async def get_alerts(request: Request) -> Response:
    caller = _caller(request)
    return await answer(request, alerts.read(services(request).db, caller))


async def put_alerts(request: Request) -> Response:
    caller = _caller(request)
    svc = services(request)
    body, _ = await read_json(
        request, alerts.WalletAlertsRequest, limit=svc.settings.max_body_bytes
    )
    return await answer(request, alerts.save(svc.db, caller, body))


routes = [
    ApiRoute(
        PATH,
        get_alerts,
        methods=["GET"],
        doc=RouteDoc(
            "The wallet's low-balance levels (highest first), the lowest told since the "
            "balance was last on the safe side, and the balance",
            "wallet",
            response=alerts.WalletAlertsData,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        PATH,
        put_alerts,
        methods=["PUT"],
        doc=RouteDoc(
            "Set the wallet's low-balance levels: up to 5 distinct amounts in cents. A debit "
            "that takes the balance below one tells balance.low once (of the lowest it "
            "crossed); a credit that brings it back to the highest level crossed tells "
            "balance.recovered once. low_balance_threshold_cents becomes the highest level",
            "wallet",
            body=alerts.WalletAlertsRequest,
            response=alerts.WalletAlertsData,
            errors=(*_AUTH, *BODY_ERRORS),
        ),
    ),
]
