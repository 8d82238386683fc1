"""Routes of the kill switch: ``POST /freeze``, ``DELETE /freeze``, ``GET /freeze``.

The only routes a key of a frozen environment may still call (``auth``): a key with the ``keys``
scope sees the freeze, and undoes it only if it is free of every limit the freeze protects
(``freezes.hands``). An app's token never may."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..callers import Caller
from ..freezes import hands
from ..freezes import service as freezes
from ..freezes.schemas import FreezeData, FreezeRequest
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
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
    operation = freezes.freeze(svc.db, svc.sealer, _freezer(caller), body)
    return await answer(request, operation)


async def delete_freeze(request: Request) -> Response:
    caller = require_caller(request, "keys")
    svc = services(request)
    # An app's token is its consent's key, which the rule refuses as an app's.
    hand = hands.key(caller.key_id)
    operation = freezes.unfreeze(svc.db, svc.sealer, _freezer(caller), hand)
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
            "again as before; no body. Only a key free of every limit the freeze protects may "
            "(no spend limit, budget, approval rule, list, expiry or rate limit, its template's "
            "included: 2420), never an app's token or key (2421)",
            "keys",
            response=FreezeData,
            errors=(*_ERRORS, Code.FREEZE_LIFT_KEY_LIMITED, Code.FREEZE_LIFT_BY_APP),
        ),
    ),
]
