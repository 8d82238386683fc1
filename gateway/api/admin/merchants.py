"""The admin routes of merchants: their upstreams (fulfilment), the merchants themselves, their
API keys, dashboard users and manual adjustments."""

from starlette.requests import Request
from starlette.responses import Response

from ... import merchant_limits
from ...accounts import invitations
from ...admin import api_keys, merchants
from ...admin.audit import Call
from ...admin.schemas import (
    AdjustmentData,
    AdjustmentRequest,
    ApiKeyCreated,
    ApiKeyData,
    KeyCreate,
    MerchantCreate,
    MerchantData,
    MerchantQuery,
    MerchantRetention,
    MerchantUpdate,
)
from ...merchants.schemas import KeyUpdate
from ...operations import perform
from ...services import services
from ...upstreams import config as upstream_config
from ...upstreams import providers as upstream_providers
from ...upstreams.providers import FulfilmentBody
from ...upstreams.schemas import FulfilmentData, FulfilmentTestData
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.parsing import read_json, read_query
from ...values.public_base import public_base
from ..answer import answer
from .door import NO_MERCHANT, path_id, route

__all__ = ["routes"]


_FULFILMENT = (*NO_MERCHANT, Code.ROUTE_NOT_FOUND)


def _env(request: Request) -> str:
    env: str = request.path_params["env"]
    if env not in ("staging", "live"):
        raise ApiError(Code.ROUTE_NOT_FOUND, "No such environment: expected staging or live")
    return env


async def list_fulfilment(request: Request, call: Call) -> Response:
    svc = services(request)
    await perform(svc.waker, merchants.get_merchant(svc.db, path_id(request)))  # or 4140
    return await answer(
        request, upstream_config.list_settings(svc.db, path_id(request), _env(request))
    )


async def put_fulfilment(request: Request, call: Call) -> Response:
    svc = services(request)
    env = _env(request)
    await perform(svc.waker, merchants.get_merchant(svc.db, path_id(request)))  # or 4140
    body, _ = await read_json(
        request, upstream_providers.body_model(), limit=svc.settings.max_body_bytes
    )
    operation = upstream_config.save(
        svc.db, svc.sealer, svc.settings, path_id(request), env, request.path_params["platform"],
        body.root,
    )  # fmt: skip
    return await answer(request, operation)


async def test_fulfilment(request: Request, call: Call) -> Response:
    svc = services(request)
    env = _env(request)
    await perform(svc.waker, merchants.get_merchant(svc.db, path_id(request)))  # or 4140
    assert svc.upstreams is not None
    # The merchant's own limit, in its bucket: the operator tests the merchant's upstream.
    decision = await merchant_limits.FULFILMENT_TEST.count(svc, path_id(request))
    operation = upstream_config.test(
        svc.db, svc.sealer, svc.upstreams.for_env(env), path_id(request), env,
        request.path_params["platform"],
    )  # fmt: skip
    return await answer(request, operation, headers=decision.headers())


async def list_merchants(request: Request, call: Call) -> Response:
    query = read_query(request, MerchantQuery)
    operation = merchants.list_merchants(
        services(request).db, limit=query.limit, offset=query.offset
    )
    return await answer(request, operation)


async def create_merchant(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, MerchantCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, merchants.create_merchant(svc.db, svc.settings, call, body))


async def get_merchant(request: Request, call: Call) -> Response:
    return await answer(request, merchants.get_merchant(services(request).db, path_id(request)))


async def update_merchant(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, MerchantUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, merchants.update_merchant(svc.db, call, path_id(request), body))


async def set_retention(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, MerchantRetention, limit=svc.settings.max_body_bytes)
    return await answer(request, merchants.set_retention(svc.db, call, path_id(request), body))


async def list_keys(request: Request, call: Call) -> Response:
    return await answer(request, api_keys.list_keys(services(request).db, path_id(request)))


async def create_key(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, KeyCreate, limit=svc.settings.max_body_bytes)
    return await answer(
        request, api_keys.create_key(svc.db, svc.settings, call, path_id(request), body)
    )


async def update_key(request: Request, call: Call) -> Response:
    svc = services(request)
    key_id: str = request.path_params["key_id"][:60]
    body, _ = await read_json(request, KeyUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, api_keys.update_key(svc.db, call, path_id(request), key_id, body))


async def revoke_key(request: Request, call: Call) -> Response:
    key_id: str = request.path_params["key_id"][:60]
    operation = api_keys.revoke_key(services(request).db, call, path_id(request), key_id)
    return await answer(request, operation)


async def invite_user(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, invitations.InviteRequest, limit=svc.settings.max_body_bytes)
    base = public_base(svc.settings)
    return await answer(request, invitations.invite_by_id(svc.db, path_id(request), body, base))


async def create_adjustment(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, AdjustmentRequest, limit=svc.settings.max_body_bytes)
    return await answer(request, merchants.adjust(svc.db, call, path_id(request), body))


routes = [
    route(
        "/merchants/{id}/fulfilment/{env}",
        list_fulfilment,
        "GET",
        "fulfilment.list",
        "A merchant's provider of every platform in an environment",
        response=FulfilmentData,
        many=True,
        errors=_FULFILMENT,
    ),
    route(
        "/merchants/{id}/fulfilment/{env}/{platform}",
        put_fulfilment,
        "PUT",
        "fulfilment.set",
        "Set a merchant's provider of a platform in an environment (credentials sealed)",
        body=FulfilmentBody,
        response=FulfilmentData,
        errors=(*_FULFILMENT, Code.FULFILMENT_URL_INVALID),
    ),
    route(
        "/merchants/{id}/fulfilment/{env}/{platform}/test",
        test_fulfilment,
        "POST",
        "fulfilment.test",
        "Test the connection to a merchant's upstream for a platform",
        response=FulfilmentTestData,
        errors=(
            *_FULFILMENT,
            Code.FULFILMENT_NOT_CONFIGURED,
            Code.FULFILMENT_TEST_RATE_LIMITED,
            Code.FULFILMENT_UPSTREAM_REFUSED,
            Code.FULFILMENT_UPSTREAM_UNAVAILABLE,
        ),
    ),
    route(
        "/merchants",
        list_merchants,
        "GET",
        "merchants.list",
        "List merchants with their balances",
        query=MerchantQuery,
        response=MerchantData,
        many=True,
    ),
    route(
        "/merchants",
        create_merchant,
        "POST",
        "merchants.create",
        "Create a merchant (its staging wallet starts funded)",
        body=MerchantCreate,
        response=MerchantData,
        success=Code.CREATED,
        errors=(Code.MERCHANT_NAME_TAKEN,),
    ),
    route(
        "/merchants/{id}",
        get_merchant,
        "GET",
        "merchants.get",
        "Get a merchant",
        response=MerchantData,
        errors=NO_MERCHANT,
    ),
    route(
        "/merchants/{id}",
        update_merchant,
        "PATCH",
        "merchants.update",
        "Set a merchant's low-balance threshold",
        body=MerchantUpdate,
        response=MerchantData,
        errors=NO_MERCHANT,
    ),
    route(
        "/merchants/{id}/retention",
        set_retention,
        "PUT",
        "merchants.retention",
        "Set how many days of webhook history a merchant keeps (null: the default)",
        body=MerchantRetention,
        response=MerchantData,
        errors=NO_MERCHANT,
    ),
    route(
        "/merchants/{id}/keys",
        list_keys,
        "GET",
        "keys.list",
        "A merchant's API keys, by display prefix",
        response=ApiKeyData,
        many=True,
        errors=NO_MERCHANT,
    ),
    route(
        "/merchants/{id}/keys",
        create_key,
        "POST",
        "keys.create",
        "Mint an API key for a merchant with a name and a policy (none: every scope, no "
        "limit); the key is shown in this reply only",
        body=KeyCreate,
        response=ApiKeyCreated,
        success=Code.CREATED,
        errors=NO_MERCHANT,
        secret=True,
    ),
    route(
        "/merchants/{id}/keys/{key_id}",
        update_key,
        "PATCH",
        "keys.update",
        "Change a key's name or policy: the policy fields present replace the stored ones",
        body=KeyUpdate,
        response=ApiKeyData,
        errors=(*NO_MERCHANT, Code.API_KEY_NOT_FOUND),
    ),
    route(
        "/merchants/{id}/keys/{key_id}/revoke",
        revoke_key,
        "POST",
        "keys.revoke",
        "Revoke an API key: refused from its next request on",
        response=ApiKeyData,
        errors=(*NO_MERCHANT, Code.API_KEY_NOT_FOUND),
    ),
    route(
        "/merchants/{id}/users",
        invite_user,
        "POST",
        "users.invite",
        "Add a dashboard user to a merchant; a new user gets a one-time link to set a "
        "password, shown in this reply only; a user who already has an account is only "
        "invited (pending) and joins once they accept it in the dashboard",
        body=invitations.InviteRequest,
        response=invitations.InviteData,
        success=Code.CREATED,
        errors=NO_MERCHANT,
        secret=True,
    ),
    route(
        "/merchants/{id}/adjustments",
        create_adjustment,
        "POST",
        "merchants.adjust",
        "Credit (+) or debit (-) a merchant wallet by hand, with an internal reason and an "
        "optional merchant-facing memo",
        body=AdjustmentRequest,
        response=AdjustmentData,
        success=Code.CREATED,
        errors=(*NO_MERCHANT, Code.ADJUSTMENT_BELOW_ZERO),
    ),
]
