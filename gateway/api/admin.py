"""The admin API, mounted at ``/api/admin/v1``: the operators' side, same envelope.

Every route goes through ``_admin``: the token check first, behind the admin lockout (failed
attempts per client, ``gateway.lockout``), then the handler, then the audit row for calls whose
service did not already write one inside its own transaction.
"""

from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from .. import merchant_limits
from ..accounts import invitations
from ..admin import (
    api_keys,
    audit,
    catalog,
    merchants,
    plans,
    redemption_codes,
    refunds,
    reports,
)
from ..admin import channels as payment_channels
from ..admin import checkin as checkin_config
from ..admin.audit import Call
from ..admin.schemas import (
    AdjustmentData,
    AdjustmentRequest,
    ApiKeyCreated,
    ApiKeyData,
    AuditItem,
    AuditQuery,
    CodeBatchData,
    CodeBatchRequest,
    CodeItem,
    CodeQuery,
    CouponCreate,
    CouponData,
    CouponUpdate,
    KeyCreate,
    KeyUpdate,
    MerchantCreate,
    MerchantData,
    MerchantQuery,
    MerchantRetention,
    MerchantUpdate,
    PackAdminData,
    PackCreate,
    PackUpdate,
    TransactionItem,
    TransactionQuery,
)
from ..billing.channels.schemas import ChannelAdminData, ChannelSet
from ..billing.checkin.schemas import CheckInConfigData, CheckInConfigs, CheckInConfigUpdate
from ..billing.schemas import OffsetQuery, OrderData, RefundData, RefundRequest
from ..billing.settling import reconcile
from ..billing.subscriptions.schemas import PlanAdminData, PlanCreate, PlansQuery, PlanUpdate
from ..lockout import client_address
from ..mail.links import public_base
from ..operations import perform
from ..ops.routing import BODY_ERRORS, ApiRoute, RouteDoc
from ..ratelimit import Decision, Limit, LimiterUnavailable
from ..services import Services, services
from ..upstreams import config as upstream_config
from ..upstreams.schemas import FulfilmentBody, FulfilmentData, FulfilmentTestData
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.envelope import ApiError, Envelope
from ..values.parsing import read_json, read_query
from .answer import answer

__all__ = ["PREFIX", "routes"]

PREFIX = "/api/admin/v1"

Handler = Callable[[Request, Call], Awaitable[Response]]

_AUTH = (
    Code.ADMIN_DISABLED,
    Code.ADMIN_TOKEN_MISSING,
    Code.ADMIN_TOKEN_INVALID,
    Code.ADMIN_API_KEY_REFUSED,
    Code.ADMIN_RATE_LIMITED,
    Code.AUTH_HEADER_REPEATED,
)
_BODY = BODY_ERRORS


def _locked_out(lockout: Decision) -> ApiError:
    return ApiError(Code.ADMIN_RATE_LIMITED, data=lockout.data(), headers=lockout.headers())


async def _admitted(request: Request, svc: Services, action: str) -> Call:
    """The token check, behind a lockout per client: past the limit of failed attempts every
    attempt is refused until the window ends, the right token too. Each failed attempt the
    limit counted is audited; refusals by the lockout are not, so at most the limit's worth of
    rows a window per client: an attacker cannot flood the audit log."""
    audit.require_enabled(svc.settings)
    client = client_address(request)
    limits = [
        Limit(
            f"admin:client:{client}",
            svc.settings.admin_failures_per_client,
            svc.settings.auth_failure_window_seconds,
        )
    ]
    try:
        # Closed, and counted before the check as a password is: the token guards the operator
        # and a person chose it, so a burst is checked no further than the limit's room, and an
        # attempt Redis cannot count is refused unchecked (``Lockout.admit``).
        locked = await svc.lockout.admit(svc.redis, limits)
    except LimiterUnavailable:
        # Closed means no token is checked at all, the right one neither: the lockout guards a
        # secret a person chose. The operator's other door (the command line) reads the store.
        raise ApiError(
            Code.SERVICE_UNAVAILABLE,
            "Rate limiter unavailable; retry shortly",
            headers={"Retry-After": "5"},
        ) from None
    if locked is not None:
        raise _locked_out(locked)
    try:
        call = audit.authenticate(request, svc.settings, action)
    except ApiError as refused:
        if refused.code not in audit.REFUSED_TOKEN:
            await svc.lockout.succeeded(svc.redis, limits)  # no token was checked
            raise
        await svc.lockout.refused(svc.redis, limits)
        await audit.record_refused(svc.db, request, action, refused.code, client, utcnow())
        raise
    await svc.lockout.succeeded(svc.redis, limits)
    return call


def _admin(action: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        svc = services(request)
        call = await _admitted(request, svc, action)
        target = request.path_params.get("id")
        try:
            response = await handler(request, call)
        except ApiError as exc:
            await audit.record_after(svc.db, call, exc.code, utcnow(), target_id=target)
            raise
        except Exception:
            await audit.record_after(svc.db, call, Code.INTERNAL_ERROR, utcnow(), target_id=target)
            raise
        code = response.code if isinstance(response, Envelope) else Code.SUCCESS
        await audit.record_after(
            svc.db, call, code, utcnow(), http_status=response.status_code, target_id=target
        )
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


def _id(request: Request) -> str:
    value: str = request.path_params["id"]
    return value[:60]


# --- merchants ---


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
    return await answer(request, merchants.get_merchant(services(request).db, _id(request)))


async def update_merchant(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, MerchantUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, merchants.update_merchant(svc.db, call, _id(request), body))


async def set_retention(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, MerchantRetention, limit=svc.settings.max_body_bytes)
    return await answer(request, merchants.set_retention(svc.db, call, _id(request), body))


async def list_keys(request: Request, call: Call) -> Response:
    return await answer(request, api_keys.list_keys(services(request).db, _id(request)))


async def create_key(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, KeyCreate, limit=svc.settings.max_body_bytes)
    return await answer(
        request, api_keys.create_key(svc.db, svc.settings, call, _id(request), body)
    )


async def update_key(request: Request, call: Call) -> Response:
    svc = services(request)
    key_id: str = request.path_params["key_id"][:60]
    body, _ = await read_json(request, KeyUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, api_keys.update_key(svc.db, call, _id(request), key_id, body))


async def revoke_key(request: Request, call: Call) -> Response:
    key_id: str = request.path_params["key_id"][:60]
    operation = api_keys.revoke_key(services(request).db, call, _id(request), key_id)
    return await answer(request, operation)


async def invite_user(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, invitations.InviteRequest, limit=svc.settings.max_body_bytes)
    base = public_base(svc.settings)
    return await answer(request, invitations.invite_by_id(svc.db, _id(request), body, base))


async def create_adjustment(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, AdjustmentRequest, limit=svc.settings.max_body_bytes)
    return await answer(request, merchants.adjust(svc.db, call, _id(request), body))


# --- transactions ---


async def list_transactions(request: Request, call: Call) -> Response:
    query = read_query(request, TransactionQuery)
    return await answer(request, reports.list_transactions(services(request).db, query))


# --- packs ---


async def list_packs(request: Request, call: Call) -> Response:
    return await answer(request, catalog.list_packs(services(request).db))


async def create_pack(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, PackCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, catalog.create_pack(svc.db, call, body))


async def update_pack(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, PackUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, catalog.update_pack(svc.db, call, _id(request), body))


# --- plans ---


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
    operation = plans.update_plan(svc.db, svc.settings, call, _id(request), body)
    return await answer(request, operation)


# --- payment channels ---


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


# --- coupons ---


async def list_coupons(request: Request, call: Call) -> Response:
    return await answer(request, catalog.list_coupons(services(request).db))


async def create_coupon(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, CouponCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, catalog.create_coupon(svc.db, call, body))


async def update_coupon(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, CouponUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, catalog.update_coupon(svc.db, call, _id(request), body))


# --- redemption codes ---


async def create_codes(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, CodeBatchRequest, limit=svc.settings.max_body_bytes)
    made = await perform(svc.waker, redemption_codes.create_codes(svc.db, svc.settings, call, body))
    if "text/csv" in request.headers.get("accept", ""):
        data = made.one(CodeBatchData)
        # The batch as a file, now: its codes are never shown again.
        return Response(
            redemption_codes.batch_csv(data),
            status_code=201,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{data.batch_id}.csv"'},
        )
    return Envelope.of(made)


async def void_code(request: Request, call: Call) -> Response:
    return await answer(
        request, redemption_codes.void_code(services(request).db, call, _id(request))
    )


async def list_codes(request: Request, call: Call) -> Response:
    query = read_query(request, CodeQuery)
    return await answer(request, redemption_codes.list_codes(services(request).db, query))


# --- orders ---


async def list_mismatched(request: Request, call: Call) -> Response:
    query = read_query(request, OffsetQuery)
    operation = reconcile.mismatched(services(request).db, limit=query.limit, offset=query.offset)
    return await answer(request, operation)


async def check_order(request: Request, call: Call) -> Response:
    svc = services(request)
    operation = reconcile.check_payment(svc.db, svc.settings, _id(request), pending_only=False)
    return await answer(request, operation)


async def refund_order(request: Request, call: Call) -> Response:
    svc = services(request)
    body, _ = await read_json(request, RefundRequest, limit=svc.settings.max_body_bytes)
    operation = refunds.refund_order(svc.db, svc.settings, call, _id(request), body)
    return await answer(request, operation)


# --- audit ---


async def list_audit(request: Request, call: Call) -> Response:
    query = read_query(request, AuditQuery)
    return await answer(request, reports.list_audit(services(request).db, query))


# --- fulfilment ---


def _env(request: Request) -> str:
    env: str = request.path_params["env"]
    if env not in ("staging", "live"):
        raise ApiError(Code.ROUTE_NOT_FOUND, "No such environment: expected staging or live")
    return env


async def list_fulfilment(request: Request, call: Call) -> Response:
    svc = services(request)
    await perform(svc.waker, merchants.get_merchant(svc.db, _id(request)))  # or 4140
    return await answer(request, upstream_config.list_settings(svc.db, _id(request), _env(request)))


async def put_fulfilment(request: Request, call: Call) -> Response:
    svc = services(request)
    env = _env(request)
    await perform(svc.waker, merchants.get_merchant(svc.db, _id(request)))  # or 4140
    body, _ = await read_json(request, FulfilmentBody, limit=svc.settings.max_body_bytes)
    operation = upstream_config.save(
        svc.db, svc.sealer, svc.settings, _id(request), env, request.path_params["platform"],
        body.root,
    )  # fmt: skip
    return await answer(request, operation)


async def test_fulfilment(request: Request, call: Call) -> Response:
    svc = services(request)
    env = _env(request)
    await perform(svc.waker, merchants.get_merchant(svc.db, _id(request)))  # or 4140
    assert svc.upstreams is not None
    # The merchant's own limit, in its bucket: the operator tests the merchant's upstream.
    decision = await merchant_limits.FULFILMENT_TEST.count(svc, _id(request))
    operation = upstream_config.test(
        svc.db, svc.sealer, svc.upstreams.for_env(env), _id(request), env,
        request.path_params["platform"],
    )  # fmt: skip
    return await answer(request, operation, headers=decision.headers())


# --- daily check-in ---


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


def _route(
    path: str,
    handler: Handler,
    method: str,
    action: str,
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    many: bool = False,
    success: Code = Code.SUCCESS,
    errors: tuple[Code, ...] = (),
    secret: bool = False,
) -> ApiRoute:
    extra = (*_BODY,) if body is not None else (Code.INVALID_QUERY,) if query is not None else ()
    return ApiRoute(
        path,
        _admin(action, handler),
        methods=[method],
        doc=RouteDoc(
            summary,
            "admin",
            auth="admin",
            body=body,
            query=query,
            response=response,
            many=many,
            success=success,
            errors=(*_AUTH, *extra, *errors),
            secret=secret,
        ),
    )


_NO_MERCHANT = (Code.MERCHANT_NOT_FOUND,)
_STRIPE = (Code.PAYMENT_PROVIDER_ERROR, Code.PAYMENT_PROVIDER_TIMEOUT)

_FULFILMENT = (*_NO_MERCHANT, Code.ROUTE_NOT_FOUND)

routes = [
    _route(
        "/merchants/{id}/fulfilment/{env}",
        list_fulfilment,
        "GET",
        "fulfilment.list",
        "A merchant's provider of every platform in an environment",
        response=FulfilmentData,
        many=True,
        errors=_FULFILMENT,
    ),
    _route(
        "/merchants/{id}/fulfilment/{env}/{platform}",
        put_fulfilment,
        "PUT",
        "fulfilment.set",
        "Set a merchant's provider of a platform in an environment (credentials sealed)",
        body=FulfilmentBody,
        response=FulfilmentData,
        errors=(*_FULFILMENT, Code.FULFILMENT_URL_INVALID),
    ),
    _route(
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
    _route(
        "/merchants",
        list_merchants,
        "GET",
        "merchants.list",
        "List merchants with their balances",
        query=MerchantQuery,
        response=MerchantData,
        many=True,
    ),
    _route(
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
    _route(
        "/merchants/{id}",
        get_merchant,
        "GET",
        "merchants.get",
        "Get a merchant",
        response=MerchantData,
        errors=_NO_MERCHANT,
    ),
    _route(
        "/merchants/{id}",
        update_merchant,
        "PATCH",
        "merchants.update",
        "Set a merchant's low-balance threshold",
        body=MerchantUpdate,
        response=MerchantData,
        errors=_NO_MERCHANT,
    ),
    _route(
        "/merchants/{id}/retention",
        set_retention,
        "PUT",
        "merchants.retention",
        "Set how many days of webhook history a merchant keeps (null: the default)",
        body=MerchantRetention,
        response=MerchantData,
        errors=_NO_MERCHANT,
    ),
    _route(
        "/merchants/{id}/keys",
        list_keys,
        "GET",
        "keys.list",
        "A merchant's API keys, by display prefix",
        response=ApiKeyData,
        many=True,
        errors=_NO_MERCHANT,
    ),
    _route(
        "/merchants/{id}/keys",
        create_key,
        "POST",
        "keys.create",
        "Mint an API key for a merchant with a name and a policy (none: every scope, no "
        "limit); the key is shown in this reply only",
        body=KeyCreate,
        response=ApiKeyCreated,
        success=Code.CREATED,
        errors=_NO_MERCHANT,
        secret=True,
    ),
    _route(
        "/merchants/{id}/keys/{key_id}",
        update_key,
        "PATCH",
        "keys.update",
        "Change a key's name or policy: the policy fields present replace the stored ones",
        body=KeyUpdate,
        response=ApiKeyData,
        errors=(*_NO_MERCHANT, Code.API_KEY_NOT_FOUND),
    ),
    _route(
        "/merchants/{id}/keys/{key_id}/revoke",
        revoke_key,
        "POST",
        "keys.revoke",
        "Revoke an API key: refused from its next request on",
        response=ApiKeyData,
        errors=(*_NO_MERCHANT, Code.API_KEY_NOT_FOUND),
    ),
    _route(
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
        errors=_NO_MERCHANT,
        secret=True,
    ),
    _route(
        "/merchants/{id}/adjustments",
        create_adjustment,
        "POST",
        "merchants.adjust",
        "Credit (+) or debit (-) a merchant wallet by hand, with an internal reason and an "
        "optional merchant-facing memo",
        body=AdjustmentRequest,
        response=AdjustmentData,
        success=Code.CREATED,
        errors=(*_NO_MERCHANT, Code.ADJUSTMENT_BELOW_ZERO),
    ),
    _route(
        "/transactions",
        list_transactions,
        "GET",
        "transactions.list",
        "Ledger entries of every wallet, newest first, with filters",
        query=TransactionQuery,
        response=TransactionItem,
        many=True,
    ),
    _route(
        "/packs",
        list_packs,
        "GET",
        "packs.list",
        "Every pack, on sale or not",
        response=PackAdminData,
        many=True,
    ),
    _route(
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
    _route(
        "/packs/{id}",
        update_pack,
        "PATCH",
        "packs.update",
        "Change a pack (price, credits, popular, on sale)",
        body=PackUpdate,
        response=PackAdminData,
        errors=(Code.PACK_NOT_FOUND,),
    ),
    _route(
        "/billing/plans",
        list_plans,
        "GET",
        "plans.list",
        "Every subscription plan (of one environment with ?env=), on sale or not",
        query=PlansQuery,
        response=PlanAdminData,
        many=True,
    ),
    _route(
        "/billing/plans",
        create_plan,
        "POST",
        "plans.create",
        "Create a subscription plan in an environment; a live plan gets its Stripe product "
        "and a monthly and a yearly price",
        body=PlanCreate,
        response=PlanAdminData,
        success=Code.CREATED,
        errors=_STRIPE,
    ),
    _route(
        "/billing/plans/{id}",
        update_plan,
        "PUT",
        "plans.update",
        "Change a subscription plan; a live plan's new price is a new Stripe price",
        body=PlanUpdate,
        response=PlanAdminData,
        errors=(Code.PLAN_NOT_FOUND, *_STRIPE, Code.SERVICE_UNAVAILABLE),
    ),
    _route(
        "/billing/channels",
        list_channels,
        "GET",
        "channels.list",
        "Every payment channel: what it can do, where it notifies, and per environment whether "
        "it is offered and with which credentials (each secret masked)",
        response=ChannelAdminData,
        many=True,
    ),
    _route(
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
    _route(
        "/coupons",
        list_coupons,
        "GET",
        "coupons.list",
        "Every coupon with its use count",
        response=CouponData,
        many=True,
    ),
    _route(
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
    _route(
        "/coupons/{id}",
        update_coupon,
        "PATCH",
        "coupons.update",
        "Switch a coupon off or on, or change its expiry or use limit",
        body=CouponUpdate,
        response=CouponData,
        errors=(Code.COUPON_NOT_FOUND,),
    ),
    _route(
        "/redemption-codes",
        create_codes,
        "POST",
        "redemption_codes.create",
        "Mint a batch of redemption codes; the codes are in this reply only (as CSV with "
        "Accept: text/csv)",
        body=CodeBatchRequest,
        response=CodeBatchData,
        success=Code.CREATED,
        secret=True,
    ),
    _route(
        "/redemption-codes",
        list_codes,
        "GET",
        "redemption_codes.list",
        "List redemption codes (never the codes themselves)",
        query=CodeQuery,
        response=CodeItem,
        many=True,
    ),
    _route(
        "/orders/mismatched",
        list_mismatched,
        "GET",
        "orders.mismatched",
        "Orders whose state at Stripe and here differ (Stripe paid and not credited here, or "
        "credited here and not paid there), newest first",
        query=OffsetQuery,
        response=OrderData,
        many=True,
    ),
    _route(
        "/orders/{id}/check",
        check_order,
        "POST",
        "orders.check",
        "Check payment: look the order up at Stripe (settled ones too) and settle it by the "
        "answer; credited once whoever gets there first",
        success=Code.PAYMENT_CHECKED,
        errors=(
            Code.ORDER_NOT_FOUND,
            Code.PAYMENTS_NOT_CONFIGURED,
            Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
            Code.PAYMENT_PROVIDER_ERROR,
            Code.PAYMENT_PROVIDER_TIMEOUT,
        ),
    ),
    _route(
        "/orders/{id}/refund",
        refund_order,
        "POST",
        "orders.refund",
        "Refund a paid order through its channel, in whole (amount_cents unset) or in part "
        "where the channel refunds parts (not Creem): the wallet gives back the credits the "
        "part bought, in the same transaction; never more than was paid in all",
        body=RefundRequest,
        response=RefundData,
        errors=(
            Code.ORDER_NOT_FOUND,
            Code.ORDER_NOT_REFUNDABLE,
            Code.REFUND_NOT_SUPPORTED,
            Code.REFUND_EXCEEDS_PAID,
            Code.REFUND_BALANCE_SHORT,
            Code.REFUND_ONLY_IN_FULL,
            Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
            Code.PAYMENT_PROVIDER_ERROR,
            Code.PAYMENT_PROVIDER_TIMEOUT,
        ),
    ),
    _route(
        "/redemption-codes/{id}/void",
        void_code,
        "POST",
        "redemption_codes.void",
        "Void an unused redemption code: it can no longer be redeemed",
        response=CodeItem,
        errors=(
            Code.REDEMPTION_CODE_NOT_FOUND,
            Code.REDEMPTION_CODE_USED,
            Code.REDEMPTION_CODE_VOIDED,
        ),
    ),
    _route(
        "/audit",
        list_audit,
        "GET",
        "audit.list",
        "The audit log of admin calls, newest first",
        query=AuditQuery,
        response=AuditItem,
        many=True,
    ),
    _route(
        "/checkin/config",
        get_checkin_config,
        "GET",
        "checkin.config.get",
        "The daily check-in's settings of both environments (defaults where never set: "
        "staging on, 10 to 100 cents; live off)",
        response=CheckInConfigs,
    ),
    _route(
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
