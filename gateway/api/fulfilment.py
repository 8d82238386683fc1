"""Routes of fulfilment: which provider turns the calling key's environment's top-ups into
credit, per platform; saved, listed, tested. Every route needs the ``fulfilment`` scope."""

from starlette.requests import Request
from starlette.responses import Response

from .. import merchant_limits
from ..auth import require_caller
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..upstreams import config
from ..upstreams import providers as upstream_providers
from ..upstreams.providers import FulfilmentBody
from ..upstreams.schemas import FulfilmentData, FulfilmentTestData
from ..values.code_names import Code
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]

_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING)
_PLATFORM = (*_AUTH, Code.ROUTE_NOT_FOUND)


async def list_fulfilment(request: Request) -> Response:
    caller = require_caller(request, "fulfilment")
    operation = config.list_settings(services(request).db, caller.merchant_id, caller.env)
    return await answer(request, operation)


async def put_fulfilment(request: Request) -> Response:
    caller = require_caller(request, "fulfilment")
    svc = services(request)
    body, _ = await read_json(
        request, upstream_providers.body_model(), limit=svc.settings.max_body_bytes
    )
    operation = config.save(
        svc.db,
        svc.sealer,
        svc.settings,
        caller.merchant_id,
        caller.env,
        request.path_params["platform"],
        body.root,
    )
    return await answer(request, operation)


async def test_fulfilment(request: Request) -> Response:
    caller = require_caller(request, "fulfilment")
    svc = services(request)
    assert svc.upstreams is not None
    # Every test counts, whatever it finds: each may call an address the merchant chose.
    decision = await merchant_limits.FULFILMENT_TEST.count(svc, caller.merchant_id)
    operation = config.test(
        svc.db,
        svc.sealer,
        svc.upstreams.for_env(caller.env),
        caller.merchant_id,
        caller.env,
        request.path_params["platform"],
    )
    return await answer(request, operation, headers=decision.headers())


routes = [
    ApiRoute(
        "/fulfilment",
        list_fulfilment,
        methods=["GET"],
        doc=RouteDoc(
            "List the provider of every platform in this key's environment",
            "fulfilment",
            response=FulfilmentData,
            many=True,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        "/fulfilment/{platform}",
        put_fulfilment,
        methods=["PUT"],
        doc=RouteDoc(
            "Set the provider of a platform: voucher, newapi or openrouter (credentials sealed, "
            "never shown again)",
            "fulfilment",
            body=FulfilmentBody,
            response=FulfilmentData,
            errors=(*_PLATFORM, *BODY_ERRORS, Code.FULFILMENT_URL_INVALID),
        ),
    ),
    ApiRoute(
        "/fulfilment/{platform}/test",
        test_fulfilment,
        methods=["POST"],
        doc=RouteDoc(
            "Test the connection to a platform's upstream with its saved credentials (limited "
            "per merchant a minute: AITOPUP_FULFILMENT_TESTS_PER_MINUTE); a failure says its "
            "outcome in data.outcome, never the upstream's own words",
            "fulfilment",
            response=FulfilmentTestData,
            errors=(
                *_PLATFORM,
                Code.FULFILMENT_NOT_CONFIGURED,
                Code.FULFILMENT_UPSTREAM_REFUSED,
                Code.FULFILMENT_UPSTREAM_UNAVAILABLE,
                Code.FULFILMENT_TEST_RATE_LIMITED,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
]
