"""Routes of a merchant's OAuth apps: register (the client secret shown once), list, read,
change, delete, rotate the secret. Every route needs the ``keys`` scope: an app is a way in to
other merchants' money, as a key is to this one's. Apps belong to the merchant, not to an
environment: a person consents in the environment of their choice.
"""

from starlette.requests import Request
from starlette.responses import Response

from ..apps import registry
from ..apps.schemas import AppCreate, AppCreated, AppData, AppSecret, AppUpdate
from ..auth import require_caller
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.codes import Code
from ..values.envelope import ApiError
from ..values.parsing import read_json
from .answer import answer

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


routes = [
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
