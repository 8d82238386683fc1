"""The dashboard's Fulfilment page: each platform's provider in the environment of the switch
(voucher, New API, OpenRouter), saved through the same service as ``PUT /fulfilment``
(``gateway.upstreams.config``), and a "test connection" with the saved credentials. Credentials
are written, never shown again."""

from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import merchant_limits
from ..codes import Code
from ..operations import perform
from ..outcome import ApiError
from ..platforms import PLATFORMS
from ..services import services
from ..upstreams import config
from ..upstreams.schemas import FulfilmentData, FulfilmentSet, FulfilmentTestData
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import field, problem
from .render import page

__all__ = ["routes"]

HOME = "/dashboard/fulfilment"
_BODY: TypeAdapter[Any] = TypeAdapter(FulfilmentSet)
_NOTICES = {"saved": "Provider saved. Its credentials are kept sealed and never shown again."}


def _typed(data: FormData) -> dict[str, Any]:
    """The form as ``PUT /fulfilment/{platform}``'s body: only the chosen provider's fields."""
    provider = field(data, "provider", 20)
    if provider == "newapi":
        user_id = field(data, "user_id", 12).strip()
        quota = field(data, "quota_per_usd", 12).strip()
        body: dict[str, Any] = {
            "provider": provider,
            "base_url": field(data, "base_url").strip(),
            "access_token": field(data, "access_token", 512).strip(),
            "user_id": int(user_id) if user_id.isdigit() else user_id,
        }
        if quota:
            body["quota_per_usd"] = int(quota) if quota.isdigit() else quota
        return body
    if provider == "openrouter":
        base = field(data, "openrouter_base_url").strip()
        body = {"provider": provider, "management_key": field(data, "management_key", 512).strip()}
        if base:
            body["base_url"] = base
        return body
    return {"provider": provider}


async def _home(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    error: tuple[str, str] | None = None,
    tested: tuple[str, str, bool] | None = None,
) -> Response:
    svc = services(request)
    listed = config.list_settings(svc.db, viewer.merchant_id, viewer.env)
    found = (await perform(svc.enqueuer, listed)).many(FulfilmentData)
    context = {
        "settings": found,
        "error": error,  # (platform, sentence)
        "tested": tested,  # (platform, sentence, ok)
        "notice": _NOTICES.get(request.query_params.get("notice", "")),
        "loopback_allowed": config.allows_loopback(svc.settings, viewer.env),
    }
    return page(request, "fulfilment/index.html", context, status=status)


async def fulfilment(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _home(request, viewer)


def _platform(request: Request) -> str:
    platform: str = request.path_params["platform"]
    if platform not in PLATFORMS:
        raise ApiError(Code.ROUTE_NOT_FOUND)
    return platform


async def save(request: Request) -> Response:
    viewer = await require_viewer(request)
    platform = _platform(request)
    data = await form(request)
    svc = services(request)
    try:
        body = _BODY.validate_python(_typed(data), strict=True)
        operation = config.save(
            svc.db, svc.sealer, svc.settings, viewer.merchant_id, viewer.env, platform, body
        )
        await perform(svc.enqueuer, operation)
    except (ApiError, ValidationError) as exc:
        status, sentence = problem(exc)
        return await _home(request, viewer, status=status, error=(platform, sentence))
    return RedirectResponse(f"{HOME}?notice=saved", status_code=303)


async def test(request: Request) -> Response:
    viewer = await require_viewer(request)
    platform = _platform(request)
    await form(request)
    svc = services(request)
    assert svc.upstreams is not None
    try:
        # The API's limit, in the same bucket.
        await merchant_limits.FULFILMENT_TEST.count(svc, viewer.merchant_id)
        operation = config.test(
            svc.db,
            svc.sealer,
            svc.upstreams.for_env(viewer.env),
            viewer.merchant_id,
            viewer.env,
            platform,
        )
        done = (await perform(svc.enqueuer, operation)).one(FulfilmentTestData)
    except ApiError as exc:
        status, sentence = problem(exc)
        # A test that ran and failed is this page's answer (200); a refused one is not.
        status = status if exc.code == Code.FULFILMENT_TEST_RATE_LIMITED else 200
        response = await _home(request, viewer, status=status, tested=(platform, sentence, False))
        response.headers.update(exc.headers or {})
        return response
    sentence = f"Connected to {done.provider} in {done.duration_ms} ms."
    return await _home(request, viewer, tested=(platform, sentence, True))


routes: list[BaseRoute] = [
    Route("/fulfilment", fulfilment, methods=["GET"]),
    Route("/fulfilment/{platform}", save, methods=["POST"]),
    Route("/fulfilment/{platform}/test", test, methods=["POST"]),
]
