"""Routes of who pays a merchant's payments to sellers, per rail (``sellers.funding``):
read each rail's choice, or choose one (``wallet``: the operator's treasury pays and the wallet
is debited; ``own``: the merchant's own instrument pays, the wallet not debited). The merchant's
own act: a key of its own with ``billing:card``, as for its saved card."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..sellers import funding
from ..services import services
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]

PATH = "/payments/funding"
_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING, Code.CARD_FOR_MERCHANT_ONLY)


async def list_funding(request: Request) -> Response:
    caller = require_caller(request, None)
    return await answer(request, funding.listed(services(request).db, caller))


async def set_funding(request: Request) -> Response:
    caller = require_caller(request, None)
    svc = services(request)
    body, _ = await read_json(request, funding.FundingSet, limit=svc.settings.max_body_bytes)
    return await answer(request, funding.choose(svc.db, caller, body, utcnow()))


routes = [
    ApiRoute(
        PATH,
        list_funding,
        methods=["GET"],
        doc=RouteDoc(
            "Who pays each rail's sellers for this environment's wallet: wallet (the operator's "
            "treasury pays, the wallet is debited) or own (the merchant's saved card or payer "
            "key pays, the wallet is not). Needs billing:card, on a key of the merchant's own",
            "payments",
            response=funding.FundingData,
            many=True,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        PATH,
        set_funding,
        methods=["PUT"],
        doc=RouteDoc(
            "Choose who pays a rail's sellers from the next payment on: wallet (the default) or "
            "own. The key's limits count a payment either way. Needs billing:card, on a key of "
            "the merchant's own",
            "payments",
            body=funding.FundingSet,
            response=funding.FundingData,
            errors=(*_AUTH, *BODY_ERRORS),
        ),
    ),
]
