"""Routes for operators and tools: liveness, readiness, metrics, the spec, its page, llms.txt."""

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ..codes import Code
from ..envelope import Envelope
from ..ops import guide, metrics, openapi
from ..services import services
from .routing import ApiRoute, RouteDoc

__all__ = ["HealthData", "ReadyData", "root_routes", "spec_routes"]

log = logging.getLogger(__name__)

_CHECK_TIMEOUT = 2.0
State = Literal["ok", "unavailable"]


class HealthData(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyData(BaseModel):
    store: State
    redis: State


async def healthz(request: Request) -> Response:
    return Envelope(Code.SUCCESS, HealthData().model_dump())


async def _answers(name: str, check: Awaitable[Any]) -> State:
    try:
        await asyncio.wait_for(check, _CHECK_TIMEOUT)
    except Exception as exc:
        log.warning("readiness: %s does not answer: %s", name, type(exc).__name__)
        return "unavailable"
    return "ok"


async def readyz(request: Request) -> Response:
    svc = services(request)
    store, redis = await asyncio.gather(
        _answers("store", svc.db.ping()), _answers("redis", svc.redis.ping())
    )
    data = ReadyData(store=store, redis=redis)
    failing = [name for name, state in (("store", store), ("redis", redis)) if state != "ok"]
    if failing:
        names = " and ".join("Redis" if n == "redis" else "the store" for n in failing)
        return Envelope(
            Code.SERVICE_UNAVAILABLE, data.model_dump(), message=f"Not ready: {names} unavailable"
        )
    return Envelope(Code.SUCCESS, data.model_dump())


async def metrics_text(request: Request) -> Response:
    svc = services(request)
    try:
        text = await metrics.scrape(svc.db)
    except Exception:  # the counters still matter when the store is down
        log.warning("metrics: the outbox figures could not be read", exc_info=True)
        text = await metrics.scrape(None)
    return Response(text, media_type=metrics.CONTENT_TYPE)


def _spec(request: Request) -> dict[str, object]:
    cached: dict[str, object] | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = openapi.build(request.app.routes)
        request.app.state.openapi = cached
    return cached


async def openapi_json(request: Request) -> Response:
    return JSONResponse(_spec(request))


async def docs_page(request: Request) -> Response:
    return HTMLResponse(guide.docs_html(_spec(request)))


async def llms_txt(request: Request) -> Response:
    return PlainTextResponse(guide.llms_txt(_spec(request)))


def spec_routes() -> list[BaseRoute]:
    """Mounted under the public prefix."""
    return [Route("/openapi.json", openapi_json, methods=["GET"])]


def root_routes(*, with_metrics: bool) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        ApiRoute(
            "/healthz",
            healthz,
            methods=["GET"],
            doc=RouteDoc("The process answers", "operations", auth="none", response=HealthData),
        ),
        ApiRoute(
            "/readyz",
            readyz,
            methods=["GET"],
            doc=RouteDoc(
                "The store and Redis answer",
                "operations",
                auth="none",
                response=ReadyData,
                errors=(Code.SERVICE_UNAVAILABLE,),
            ),
        ),
        Route("/docs", docs_page, methods=["GET"]),
        Route("/llms.txt", llms_txt, methods=["GET"]),
    ]
    if with_metrics:
        routes.append(Route("/metrics", metrics_text, methods=["GET"]))
    return routes
