"""Routes of the kill switch: ``POST /freeze``, ``DELETE /freeze``, ``GET /freeze``.

The only routes a key of a frozen environment may still call (``auth``): a person holding a key
with the ``keys`` scope sees and undoes the freeze. An app's token never may."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..callers import Caller
from ..freezes import service as freezes
from ..freezes.schemas import FreezeData, FreezeRequest
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.codes import Code
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]


def _freezer(caller: Caller) -> freezes.Freezer:
    return freezes.Freezer(caller.merchant_id, caller.env, f"key {caller.key_id}")


async def get_freeze(request: Request) -> Response:
    caller = require_caller(request, "keys")
    return await answer(request, freezes.state(services(request).db, _freezer(caller)))


async def post_freeze(request: Request) -> Response:
    caller = require_caller(request, "keys")
    svc = services(request)
    body, _ = await read_json(request, FreezeRequest, limit=svc.settings.max_body_bytes)
    per_hour = svc.settings.webhook_operational_events_per_hour
    operation = freezes.freeze(svc.db, svc.sealer, _freezer(caller), body, per_hour=per_hour)
    return await answer(request, operation)


async def delete_freeze(request: Request) -> Response:
    caller = require_caller(request, "keys")
    svc = services(request)
    per_hour = svc.settings.webhook_operational_events_per_hour
    operation = freezes.unfreeze(svc.db, svc.sealer, _freezer(caller), per_hour=per_hour)
    return await answer(request, operation)


_ERRORS = tuple(c for c in KEY_ERRORS if c != Code.ENVIRONMENT_FROZEN)

routes = [
    ApiRoute(
        "/freeze",
        get_freeze,
        methods=["GET"],
        doc=RouteDoc(
            "The kill switch: whether the key's environment is frozen, and since when",
            "keys",
            response=FreezeData,
            errors=_ERRORS,
        ),
    ),
    ApiRoute(
        "/freeze",
        post_freeze,
        methods=["POST"],
        doc=RouteDoc(
            "The kill switch: freeze the key's environment (every key, consent and app token of "
            "it refused, 2360, in every gateway process from the next request, and every send "
            "not yet debited refused), held sends kept or cancelled (held); or one budget "
            "(budget_id). An operational event and a mail to each owner; freezing again changes "
            "nothing",
            "keys",
            body=FreezeRequest,
            response=FreezeData,
            errors=(*_ERRORS, *BODY_ERRORS, Code.FREEZE_BUDGET_NOT_FOUND),
        ),
    ),
    ApiRoute(
        "/freeze",
        delete_freeze,
        methods=["DELETE"],
        doc=RouteDoc(
            "Undo the kill switch: every key, consent and app token of the environment works "
            "again as before; no body",
            "keys",
            response=FreezeData,
            errors=_ERRORS,
        ),
    ),
]
