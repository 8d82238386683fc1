"""Apps: the OAuth apps this merchant registers (a confidential app's client secret shown once,
rotated with a day's overlap, deleted with every consent given to it), and Connected apps: the
consents this merchant gave to apps in the environment of the switch (who gave it, the policy,
the spend), each revocable. The same operations as ``/api/public/v1/apps`` and
``/connections``; registering and revoking take the ``keys`` action of the viewer's role.
"""

import re
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..apps import connections, registry
from ..apps.schemas import APP_SCOPES, AppCreate, AppCreated, AppData, AppSecret, ConnectionData
from ..operations import perform
from ..services import services
from ..values.model import Model
from ..values.outcome import ApiError
from . import reveal
from .context import Viewer, require_viewer
from .csrf import form
from .paths import path_for
from .render import page

__all__ = ["routes"]

_MAX_APPS = 50
_KEY_ID = re.compile(r"key_[0-9a-z]{24}")


def _app_id(request: Request) -> str:
    found: str = request.path_params["app_id"]
    if not registry.APP_ID.fullmatch(found):
        raise HTTPException(404)
    return found


def _pepper(request: Request) -> bytes:
    return services(request).settings.key_pepper.get_secret_value().encode()


async def _apps_page(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    svc = services(request)
    apps = (await perform(svc.waker, registry.list_apps(svc.db, viewer.merchant_id))).many(AppData)
    return page(
        request,
        "apps/index.html",
        {"apps": apps, "values": values, "errors": errors, "app_scopes": APP_SCOPES},
        status=status,
    )


_EMPTY: dict[str, Any] = {
    "name": "",
    "homepage_url": "",
    "redirect_uris": "",
    "scopes": ["topup:read"],
    "confidential": True,
}


async def apps_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    notice = request.query_params.get("notice")
    return await _apps_page(request, viewer, {**_EMPTY, "notice": notice}, {})


def _typed(data: Any) -> dict[str, Any]:
    return {
        "name": str(data.get("name", ""))[:200],
        "homepage_url": str(data.get("homepage_url", ""))[:2100],
        "redirect_uris": str(data.get("redirect_uris", ""))[:22000],
        "scopes": [s for s in data.getlist("scopes") if s in APP_SCOPES],
        "confidential": data.get("confidential") == "on",
    }


async def register_app(request: Request) -> Response:
    viewer = await require_viewer(request)
    typed = _typed(await form(request))
    try:
        body = AppCreate(
            name=typed["name"],
            homepage_url=typed["homepage_url"] or None,
            redirect_uris=tuple(
                u.strip() for u in typed["redirect_uris"].splitlines() if u.strip()
            ),
            scopes=tuple(typed["scopes"]),
            confidential=typed["confidential"],
        )
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for e in exc.errors():  # the first refusal of each field: it names the cause
            errors.setdefault(str(e["loc"][0]), str(e["msg"]).removeprefix("Value error, "))
        return await _apps_page(request, viewer, typed, errors, 422)
    svc = services(request)
    operation = registry.register_app(
        svc.db, viewer.merchant_id, body, pepper=_pepper(request), cap=_MAX_APPS
    )
    try:
        made = (await perform(svc.waker, operation)).one(AppCreated)
    except ApiError as refused:
        return await _apps_page(request, viewer, typed, {"": refused.message or ""}, 409)
    return await _shown_once(request, _Shown(created=made).model_dump_json())


async def _shown_once(request: Request, shown: str) -> Response:
    """Post/redirect/get: the page that shows a secret is a GET that shows it once."""
    token = await reveal.stash(request, shown)
    if token is None:
        return _secret_page(request, shown, status=201)
    return RedirectResponse(path_for("app_secret") + f"?t={token}", status_code=303)


class _Shown(Model):
    """What the secret's page shows: an app just registered, or a secret just rotated."""

    created: AppCreated | None = None
    rotated: AppSecret | None = None


def _secret_page(request: Request, shown: str, status: int = 200) -> Response:
    found = _Shown.model_validate_json(shown)
    return page(
        request,
        "apps/secret.html",
        {"created": found.created, "rotated": found.rotated},
        status=status,
        no_store=True,
    )


async def app_secret(request: Request) -> Response:
    await require_viewer(request)
    shown = await reveal.take(request)
    if shown is None:
        return RedirectResponse(path_for("apps_page") + "?notice=shown", status_code=303)
    return _secret_page(request, shown)


async def rotate_secret(request: Request) -> Response:
    viewer = await require_viewer(request)
    app_id = _app_id(request)
    await form(request)
    svc = services(request)
    operation = registry.rotate_secret(svc.db, viewer.merchant_id, app_id, pepper=_pepper(request))
    rotated = (await perform(svc.waker, operation)).one(AppSecret)
    return await _shown_once(request, _Shown(rotated=rotated).model_dump_json())


async def delete_app(request: Request) -> Response:
    viewer = await require_viewer(request)
    app_id = _app_id(request)
    await form(request)
    svc = services(request)
    await perform(svc.waker, registry.delete_app(svc.db, viewer.merchant_id, app_id))
    return RedirectResponse(path_for("apps_page") + "?notice=deleted", status_code=303)


async def connected_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    listed = connections.list_connections(svc.db, viewer.merchant_id, viewer.env)
    found = (await perform(svc.waker, listed)).many(ConnectionData)
    return page(request, "apps/connected.html", {"connections": found})


async def revoke_connection(request: Request) -> Response:
    viewer = await require_viewer(request)
    key_id: str = request.path_params["key_id"]
    if not _KEY_ID.fullmatch(key_id):
        raise HTTPException(404)
    await form(request)
    svc = services(request)
    await perform(svc.waker, connections.revoke_connection(svc.db, viewer.caller, key_id))
    return RedirectResponse(path_for("connected_page"), status_code=303)


routes: list[BaseRoute] = [
    Route("/apps", apps_page, methods=["GET"], name="apps_page"),
    Route("/apps", register_app, methods=["POST"], name="register_app"),
    Route("/apps/secret", app_secret, methods=["GET"], name="app_secret"),
    Route("/apps/connected", connected_page, methods=["GET"], name="connected_page"),
    Route(
        "/apps/connected/{key_id}/revoke",
        revoke_connection,
        methods=["POST"],
        name="revoke_connection",
    ),
    Route("/apps/{app_id}/rotate", rotate_secret, methods=["POST"], name="rotate_app_secret"),
    Route("/apps/{app_id}/delete", delete_app, methods=["POST"], name="delete_app"),
]
