"""Routes of OAuth apps and the consents given to them.

- ``/apps``: a merchant's own apps: register (the client secret shown once), list, read,
  change, delete, rotate the secret. Apps belong to the merchant, not to an environment: a
  person consents in the environment of their choice.
- ``/connections``: the consents this merchant gave, in the caller's environment: list (with
  spend), change a policy, revoke.
- ``/me``: who the key or token acts for (an app's first call).
- ``/apps/me/key``: the one key an app's token makes, reads and rotates through a consent that
  gives ``keys:manage`` (``apps.managed``), seed 004's "management token" read and updated
  through an OAuth token.
- ``/charges``: the fees an app charges the merchant whose consent its token holds
  (``Idempotency-Key`` required), the charges a key's merchant paid or was paid, and refunds.

``/apps`` and ``/connections`` need the ``keys`` scope, which no app can hold: an app is a way in
to other merchants' money, as a key is to this one's.
"""

import re

from starlette.requests import Request
from starlette.responses import Response

from .. import idempotency
from ..apps import charges, connections, managed, registry
from ..apps.schemas import (
    AppCreate,
    AppCreated,
    AppData,
    AppSecret,
    AppUpdate,
    ConnectionData,
    ConnectionUpdate,
    MeData,
)
from ..auth import require_caller
from ..merchants.schemas import KeyCreate, KeyCreated, KeyData
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..protocols import registry as protocols
from ..protocols.base import REFUSALS
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import read_json
from . import charge_payments
from .answer import answer
from .paid import paid_reply

__all__ = ["routes"]

_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING)
_NOT_FOUND = (*_AUTH, Code.APP_NOT_FOUND)
# Enough for any real integrator; bounds what one merchant can make the store hold.
MAX_APPS_PER_MERCHANT = 50


def _merchant(request: Request) -> str:
    return require_caller(request, "keys").merchant_id


def _app_id(request: Request) -> str:
    app_id: str = request.path_params["app_id"]
    if not registry.APP_ID.fullmatch(app_id):
        raise ApiError(Code.APP_NOT_FOUND)
    return app_id


def _pepper(request: Request) -> bytes:
    return services(request).settings.key_pepper.get_secret_value().encode()


async def create_app(request: Request) -> Response:
    merchant_id = _merchant(request)
    svc = services(request)
    body, _ = await read_json(request, AppCreate, limit=svc.settings.max_body_bytes)
    operation = registry.register_app(
        svc.db, merchant_id, body, pepper=_pepper(request), cap=MAX_APPS_PER_MERCHANT
    )
    return await answer(request, operation)


async def list_apps(request: Request) -> Response:
    merchant_id = _merchant(request)
    return await answer(request, registry.list_apps(services(request).db, merchant_id))


async def get_app(request: Request) -> Response:
    merchant_id = _merchant(request)
    app_id = _app_id(request)
    return await answer(request, registry.get_app(services(request).db, merchant_id, app_id))


async def update_app(request: Request) -> Response:
    merchant_id = _merchant(request)
    app_id = _app_id(request)
    svc = services(request)
    body, _ = await read_json(request, AppUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, registry.update_app(svc.db, merchant_id, app_id, body))


async def delete_app(request: Request) -> Response:
    merchant_id = _merchant(request)
    app_id = _app_id(request)
    return await answer(request, registry.delete_app(services(request).db, merchant_id, app_id))


async def rotate_secret(request: Request) -> Response:
    merchant_id = _merchant(request)
    app_id = _app_id(request)
    operation = registry.rotate_secret(
        services(request).db, merchant_id, app_id, pepper=_pepper(request)
    )
    return await answer(request, operation)


_KEY_ID = re.compile(r"key_[0-9a-z]{24}")
_CONNECTION = (*_AUTH, Code.CONNECTION_NOT_FOUND)


def _connection_id(request: Request) -> str:
    key_id: str = request.path_params["key_id"]
    if not _KEY_ID.fullmatch(key_id):
        raise ApiError(Code.CONNECTION_NOT_FOUND)
    return key_id


async def me(request: Request) -> Response:
    caller = require_caller(request, None)  # any key or token may ask who it is
    return await answer(request, connections.me(services(request).db, caller))


async def list_connections(request: Request) -> Response:
    caller = require_caller(request, "keys")
    operation = connections.list_connections(services(request).db, caller.merchant_id, caller.env)
    return await answer(request, operation)


async def update_connection(request: Request) -> Response:
    caller = require_caller(request, "keys")
    key_id = _connection_id(request)
    svc = services(request)
    body, _ = await read_json(request, ConnectionUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, connections.update_connection(svc.db, caller, key_id, body.policy))


async def revoke_connection(request: Request) -> Response:
    caller = require_caller(request, "keys")
    key_id = _connection_id(request)
    return await answer(
        request, connections.revoke_connection(services(request).db, caller, key_id)
    )


_CHARGE_ID = re.compile(r"ch_[0-9a-z]{24}")
_CHARGE = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING, Code.CHARGE_NOT_FOUND)
_CHARGES_LISTED = 100


def _charge_id(request: Request) -> str:
    charge_id: str = request.path_params["charge_id"]
    if not _CHARGE_ID.fullmatch(charge_id):
        raise ApiError(Code.CHARGE_NOT_FOUND)
    return charge_id


async def create_charge(request: Request) -> Response:
    caller = require_caller(request, None)  # the operation checks the consent's policy
    svc = services(request)
    key = idempotency.parse_key(request.headers.get("idempotency-key"))
    if key is None:
        raise ApiError(Code.INVALID_IDEMPOTENCY_KEY, "A charge needs an Idempotency-Key header")
    body, _ = await read_json(request, charges.ChargeCreate, limit=svc.settings.max_body_bytes)
    presenting = protocols.presented_in_headers(request.headers)
    answered = await charge_payments.charge(svc, caller, body, key, presenting)
    return paid_reply(request, svc.settings, answered)


async def list_charges(request: Request) -> Response:
    caller = require_caller(request, None)
    operation = charges.list_charges(services(request).db, caller, limit=_CHARGES_LISTED)
    return await answer(request, operation)


async def get_charge(request: Request) -> Response:
    caller = require_caller(request, None)
    charge_id = _charge_id(request)
    return await answer(request, charges.get_charge(services(request).db, caller, charge_id))


async def refund_charge(request: Request) -> Response:
    caller = require_caller(request, None)
    charge_id = _charge_id(request)
    svc = services(request)
    body, _ = await read_json(request, charges.RefundCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, charges.refund(svc.db, caller, charge_id, body))


_MANAGED = (*_AUTH, Code.MANAGED_KEY_FOR_APPS_ONLY, Code.TOKEN_REVOKED)


async def mint_managed_key(request: Request) -> Response:
    caller = require_caller(request, None)  # the operation checks the token and its scope
    svc = services(request)
    body, _ = await read_json(request, KeyCreate, limit=svc.settings.max_body_bytes)
    operation = managed.mint_key(
        svc.db,
        caller,
        name=body.name,
        policy=body.policy,
        pepper=_pepper(request),
        cap=svc.settings.max_keys_per_merchant_env,
    )
    return await answer(request, operation)


async def read_managed_key(request: Request) -> Response:
    caller = require_caller(request, None)
    return await answer(request, managed.read_key(services(request).db, caller))


async def rotate_managed_key(request: Request) -> Response:
    caller = require_caller(request, None)
    svc = services(request)
    operation = managed.rotate_key(
        svc.db, caller, pepper=_pepper(request), cap=svc.settings.max_keys_per_merchant_env
    )
    return await answer(request, operation)


routes = [
    ApiRoute(
        "/apps/me/key",
        mint_managed_key,
        methods=["POST"],
        doc=RouteDoc(
            "An app's token (scope keys:manage) makes the one key of its consent, within the "
            "consent's policy; the reply carries the key, once",
            "apps",
            body=KeyCreate,
            response=KeyCreated,
            success=Code.CREATED,
            errors=(
                *_MANAGED,
                *BODY_ERRORS,
                Code.MANAGED_KEY_BEYOND_CONSENT,
                Code.MANAGED_KEY_EXISTS,
                Code.KEY_COUNT_LIMIT_REACHED,
                Code.BUDGET_NOT_IN_ENV,
            ),
            secret=True,
        ),
    ),
    ApiRoute(
        "/apps/me/key",
        read_managed_key,
        methods=["GET"],
        doc=RouteDoc(
            "The key an app's token made through its consent, never its secret again",
            "apps",
            response=KeyData,
            errors=(*_MANAGED, Code.MANAGED_KEY_NOT_FOUND),
        ),
    ),
    ApiRoute(
        "/apps/me/key/rotate",
        rotate_managed_key,
        methods=["POST"],
        doc=RouteDoc(
            "Replace the consent's key: the old one is revoked at once, the new one is in this "
            "reply alone",
            "apps",
            response=KeyCreated,
            success=Code.CREATED,
            errors=(
                *_MANAGED,
                Code.MANAGED_KEY_NOT_FOUND,
                Code.MANAGED_KEY_BEYOND_CONSENT,
                Code.KEY_COUNT_LIMIT_REACHED,
            ),
            secret=True,
        ),
    ),
    ApiRoute(
        "/charges",
        create_charge,
        methods=["POST"],
        doc=RouteDoc(
            "An app charges the consenting merchant a fee: money from its wallet to the app "
            "owner's, under the consent's policy; an Idempotency-Key is required",
            "apps",
            body=charges.ChargeCreate,
            response=charges.ChargeData,
            success=Code.CREATED,
            errors=(
                *_CHARGE,
                *BODY_ERRORS,
                Code.CHARGES_FOR_APPS_ONLY,
                Code.INSUFFICIENT_BALANCE,
                Code.KEY_LIMIT_REACHED,
                Code.KEY_PER_SEND_CAP,
                Code.KEY_PER_RECIPIENT_LIMIT,
                Code.KEY_RULE_REFUSES_CHARGE,
                Code.BUDGET_LIMIT_REACHED,
                Code.BUDGET_FROZEN,
                Code.INVALID_IDEMPOTENCY_KEY,
                Code.IDEMPOTENCY_KEY_REUSED,
                *REFUSALS,
            ),
            forms=True,  # seed 004's fee charge is posted as a form
            paid=True,
        ),
    ),
    ApiRoute(
        "/charges",
        list_charges,
        methods=["GET"],
        doc=RouteDoc(
            "Charges, newest first: an app's of this merchant, or those a merchant paid and "
            "was paid",
            "apps",
            response=charges.ChargeData,
            many=True,
            errors=(*KEY_ERRORS, Code.KEY_SCOPE_MISSING),
        ),
    ),
    ApiRoute(
        "/charges/{charge_id}",
        get_charge,
        methods=["GET"],
        doc=RouteDoc("One charge", "apps", response=charges.ChargeData, errors=_CHARGE),
    ),
    ApiRoute(
        "/charges/{charge_id}/refund",
        refund_charge,
        methods=["POST"],
        doc=RouteDoc(
            "Refund a charge once, whole or in part: the app owner's wallet gives it back",
            "apps",
            body=charges.RefundCreate,
            response=charges.ChargeData,
            errors=(
                *_CHARGE,
                *BODY_ERRORS,
                Code.CHARGE_NOT_REFUNDABLE,
                Code.INSUFFICIENT_BALANCE,
            ),
        ),
    ),
    ApiRoute(
        "/me",
        me,
        methods=["GET"],
        doc=RouteDoc(
            "Who this key or access token acts for: the merchant, the environment, the app "
            "(for a token), the scopes and the policy",
            "apps",
            response=MeData,
            errors=KEY_ERRORS,
        ),
    ),
    ApiRoute(
        "/connections",
        list_connections,
        methods=["GET"],
        doc=RouteDoc(
            "The consents this merchant gave to apps in this environment, newest first, with "
            "their spend per window",
            "apps",
            response=ConnectionData,
            many=True,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        "/connections/{key_id}",
        update_connection,
        methods=["PATCH"],
        doc=RouteDoc(
            "Replace a consent's policy, within the scopes its app asked for",
            "apps",
            body=ConnectionUpdate,
            response=ConnectionData,
            errors=(
                *_CONNECTION,
                *BODY_ERRORS,
                Code.KEY_SCOPE_NOT_GRANTABLE,
                Code.BUDGET_NOT_IN_ENV,
            ),
        ),
    ),
    ApiRoute(
        "/connections/{key_id}",
        revoke_connection,
        methods=["DELETE"],
        doc=RouteDoc(
            "Revoke a consent: it and every token of it are refused from the next request",
            "apps",
            response=ConnectionData,
            success=Code.DELETED,
            errors=_CONNECTION,
        ),
    ),
    ApiRoute(
        "/apps",
        create_app,
        methods=["POST"],
        doc=RouteDoc(
            "Register an OAuth app; a confidential app's client_secret is in this reply alone",
            "apps",
            body=AppCreate,
            response=AppCreated,
            success=Code.CREATED,
            errors=(*_AUTH, *BODY_ERRORS, Code.APP_COUNT_LIMIT_REACHED),
            secret=True,
        ),
    ),
    ApiRoute(
        "/apps",
        list_apps,
        methods=["GET"],
        doc=RouteDoc(
            "List this merchant's OAuth apps, newest first",
            "apps",
            response=AppData,
            many=True,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        "/apps/{app_id}",
        get_app,
        methods=["GET"],
        doc=RouteDoc(
            "One of this merchant's OAuth apps", "apps", response=AppData, errors=_NOT_FOUND
        ),
    ),
    ApiRoute(
        "/apps/{app_id}",
        update_app,
        methods=["PATCH"],
        doc=RouteDoc(
            "Change an app's name, links, redirect URIs or the scopes it may ask for",
            "apps",
            body=AppUpdate,
            response=AppData,
            errors=(*_NOT_FOUND, *BODY_ERRORS),
        ),
    ),
    ApiRoute(
        "/apps/{app_id}",
        delete_app,
        methods=["DELETE"],
        doc=RouteDoc(
            "Delete an app: every consent given to it, and every token, is revoked with it",
            "apps",
            response=AppData,
            success=Code.DELETED,
            errors=_NOT_FOUND,
        ),
    ),
    ApiRoute(
        "/apps/{app_id}/rotate-secret",
        rotate_secret,
        methods=["POST"],
        doc=RouteDoc(
            "A new client secret, shown once; the previous one works for 24 hours more",
            "apps",
            response=AppSecret,
            errors=(*_NOT_FOUND, Code.APP_NOT_CONFIDENTIAL),
            secret=True,
        ),
    ),
]
