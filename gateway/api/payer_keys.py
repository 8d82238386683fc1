"""Routes of a merchant's payer keys, the keys its wallet signs sellers' payments with where a
protocol's payer signs (``sellers.payer_keys``): set one (imported, or made by the gateway),
list them, remove one. Each is the merchant's own act: a key of its own with ``billing``
(``PAYER_KEY_FOR_MERCHANT_ONLY`` for an app's token or the key an app manages); the wallet of
the key's environment. The secret is never shown; the address is."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..sellers.payer_keys import service as payer_keys
from ..sellers.payer_keys.schemas import MAX_PROTOCOL, PayerKeyData, PayerKeySet
from ..services import services
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]

PATH = "/payments/payer-keys"
_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING, Code.PAYER_KEY_FOR_MERCHANT_ONLY)


async def set_payer_key(request: Request) -> Response:
    caller = require_caller(request, None)
    svc = services(request)
    body, _ = await read_json(request, PayerKeySet, limit=svc.settings.max_body_bytes)
    return await answer(request, payer_keys.set_key(svc.db, svc.sealer, caller, body, utcnow()))


async def list_payer_keys(request: Request) -> Response:
    caller = require_caller(request, None)
    return await answer(request, payer_keys.listed(services(request).db, caller))


async def delete_payer_key(request: Request) -> Response:
    caller = require_caller(request, None)
    protocol: str = request.path_params["protocol"]
    if len(protocol) > MAX_PROTOCOL:
        raise ApiError(Code.PAYER_KEY_NOT_FOUND)
    return await answer(request, payer_keys.remove(services(request).db, caller, protocol))


routes = [
    ApiRoute(
        PATH,
        set_payer_key,
        methods=["POST"],
        doc=RouteDoc(
            "Set the wallet's payer key for a protocol (x402): the private key given, or one "
            "the gateway makes; sealed, never shown again. The reply shows the address it pays "
            "from, which the merchant funds on chain. Needs the billing scope, on a key of the "
            "merchant's own",
            "payments",
            body=PayerKeySet,
            response=PayerKeyData,
            success=Code.CREATED,
            errors=(*_AUTH, *BODY_ERRORS, Code.PAYER_KEY_EXISTS),
        ),
    ),
    ApiRoute(
        PATH,
        list_payer_keys,
        methods=["GET"],
        doc=RouteDoc(
            "List the wallet's payer keys: protocol, environment, address, when set; never a "
            "secret",
            "payments",
            response=PayerKeyData,
            many=True,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        PATH + "/{protocol}",
        delete_payer_key,
        methods=["DELETE"],
        doc=RouteDoc(
            "Remove the wallet's payer key for a protocol: its payments in that protocol are "
            "refused in live from now on (staging signs with its test key again). What the "
            "address holds stays there",
            "payments",
            success=Code.DELETED,
            errors=(*_AUTH, Code.PAYER_KEY_NOT_FOUND),
        ),
    ),
]
