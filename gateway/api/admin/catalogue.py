"""The admin routes of what is on sale and how it is paid: packs, subscription plans, payment
channels, coupons."""

from starlette.requests import Request
from starlette.responses import Response

from ...admin import catalog, plans
from ...admin import channels as payment_channels
from ...admin.audit import Call
from ...admin.schemas import (
    CouponCreate,
    CouponData,
    CouponUpdate,
    PackAdminData,
    PackCreate,
    PackUpdate,
)
from ...billing.channels.schemas import ChannelAdminData, ChannelSet
from ...billing.subscriptions.schemas import PlanAdminData, PlanCreate, PlansQuery, PlanUpdate
from ...services import services
from ...values.code_names import Code
from ...values.parsing import read_json, read_query
from ..answer import answer
from .door import STRIPE, path_id, route

__all__ = ["routes"]


async def list_packs(request: Request, call: Call) -> Response:
    return await answer(request, catalog.list_packs(services(request).db))


async def create_pack(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, PackCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, catalog.create_pack(svc.db, call, body))


async def update_pack(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, PackUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, catalog.update_pack(svc.db, call, path_id(request), body))


async def list_plans(request: Request, call: Call) -> Response:
    query = read_query(request, PlansQuery)
    return await answer(request, plans.list_plans(services(request).db, query.env))


async def create_plan(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, PlanCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, plans.create_plan(svc.db, svc.settings, call, body))


async def update_plan(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, PlanUpdate, limit=svc.settings.max_body_bytes)
    operation = plans.update_plan(svc.db, svc.settings, call, path_id(request), body)
    return await answer(request, operation)


async def list_channels(request: Request, call: Call) -> Response:
    svc = services(request)
    return await answer(request, payment_channels.list_channels(svc.db, svc.settings))


async def set_channel(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, ChannelSet, limit=svc.settings.max_body_bytes)
    channel = str(request.path_params["channel"])[:40]
    env = str(request.path_params["env"])[:20]
    operation = payment_channels.set_channel(svc.db, svc.settings, call, channel, env, body)
    return await answer(request, operation)


async def list_coupons(request: Request, call: Call) -> Response:
    return await answer(request, catalog.list_coupons(services(request).db))


async def create_coupon(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, CouponCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, catalog.create_coupon(svc.db, call, body))


async def update_coupon(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, CouponUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, catalog.update_coupon(svc.db, call, path_id(request), body))


routes = [
    route(
        "/packs",
        list_packs,
        "GET",
        "packs.list",
        "Every pack, on sale or not",
        response=PackAdminData,
        many=True,
    ),
    route(
        "/packs",
        create_pack,
        "POST",
        "packs.create",
        "Create a pack",
        body=PackCreate,
        response=PackAdminData,
        success=Code.CREATED,
        errors=(Code.PACK_ID_TAKEN,),
    ),
    route(
        "/packs/{id}",
        update_pack,
        "PATCH",
        "packs.update",
        "Change a pack (price, credits, popular, on sale)",
        body=PackUpdate,
        response=PackAdminData,
        errors=(Code.PACK_NOT_FOUND,),
    ),
    route(
        "/billing/plans",
        list_plans,
        "GET",
        "plans.list",
        "Every subscription plan (of one environment with ?env=), on sale or not",
        query=PlansQuery,
        response=PlanAdminData,
        many=True,
    ),
    route(
        "/billing/plans",
        create_plan,
        "POST",
        "plans.create",
        "Create a subscription plan in an environment; a live plan gets its Stripe product "
        "and a monthly and a yearly price",
        body=PlanCreate,
        response=PlanAdminData,
        success=Code.CREATED,
        errors=STRIPE,
    ),
    route(
        "/billing/plans/{id}",
        update_plan,
        "PUT",
        "plans.update",
        "Change a subscription plan; a live plan's new price is a new Stripe price",
        body=PlanUpdate,
        response=PlanAdminData,
        errors=(Code.PLAN_NOT_FOUND, *STRIPE, Code.SERVICE_UNAVAILABLE),
    ),
    route(
        "/billing/channels",
        list_channels,
        "GET",
        "channels.list",
        "Every payment channel: what it can do, where it notifies, and per environment whether "
        "it is offered and with which credentials (each secret masked)",
        response=ChannelAdminData,
        many=True,
    ),
    route(
        "/billing/channels/{channel}/{env}",
        set_channel,
        "PUT",
        "channels.set",
        "Offer a payment channel in an environment or not, with its credentials (sealed at "
        "rest, answered masked; a secret left out keeps the one saved). Live needs "
        "credentials; staging pays every channel through the sandbox",
        body=ChannelSet,
        response=ChannelAdminData,
        errors=(
            Code.PAYMENT_CHANNEL_UNKNOWN,
            Code.PAYMENT_CHANNEL_NOT_AVAILABLE,
            Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
            Code.PAYMENT_CHANNEL_CREDENTIALS_INVALID,
        ),
    ),
    route(
        "/coupons",
        list_coupons,
        "GET",
        "coupons.list",
        "Every coupon with its use count",
        response=CouponData,
        many=True,
    ),
    route(
        "/coupons",
        create_coupon,
        "POST",
        "coupons.create",
        "Create a coupon: percent or fixed amount off, optional expiry, use limit and pack",
        body=CouponCreate,
        response=CouponData,
        success=Code.CREATED,
        errors=(Code.COUPON_CODE_TAKEN, Code.PACK_NOT_FOUND),
    ),
    route(
        "/coupons/{id}",
        update_coupon,
        "PATCH",
        "coupons.update",
        "Switch a coupon off or on, or change its expiry or use limit",
        body=CouponUpdate,
        response=CouponData,
        errors=(Code.COUPON_NOT_FOUND,),
    ),
]
