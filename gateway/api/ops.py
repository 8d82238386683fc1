"""Routes for operators and tools: liveness, readiness, metrics, the spec, /docs, llms.txt, the
changelog."""

import asyncio
import hmac
import logging
from collections.abc import Awaitable
from gettext import NullTranslations
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .. import described
from ..ops import changelog_page, explorer, guide, metrics
from ..ops.routing import ApiRoute, RouteDoc
from ..services import services
from ..values import languages
from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.model import Model
from ..values.outcome import ApiError

__all__ = ["HealthData", "ReadyData", "root_routes", "spec_routes"]

log = logging.getLogger(__name__)

_CHECK_TIMEOUT = 2.0
State = Literal["ok", "unavailable"]


class HealthData(Model):
    status: Literal["ok"] = "ok"


class ReadyData(Model):
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
    """Ready while the store answers: that is what the API needs. Sends, reads and keys work
    without Redis (a send's webhooks wait in the outbox, and the workers lease them from there),
    so Redis is reported, never a reason to take a gateway out of rotation: a
    balancer that did would take every gateway down together, for an outage the API rides out."""
    svc = services(request)
    store, redis = await asyncio.gather(
        _answers("store", svc.db.ping()), _answers("redis", svc.redis.ping())
    )
    data = ReadyData(store=store, redis=redis)
    if store != "ok":
        return Envelope(
            Code.SERVICE_UNAVAILABLE, data.model_dump(), message="Not ready: the store unavailable"
        )
    return Envelope(Code.SUCCESS, data.model_dump())


def _check_metrics_token(request: Request, token: bytes) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    # compare_digest: how long a wrong token took to refuse says nothing of the right one.
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token):
        raise ApiError(Code.METRICS_TOKEN_INVALID, headers={"WWW-Authenticate": "Bearer"})


async def metrics_text(request: Request) -> Response:
    """With ``AITOPUP_METRICS_TOKEN`` set, its bearer alone; unset, loopback clients alone (a
    developer's machine), anyone else getting the answer of a path that does not exist."""
    svc = services(request)
    token = svc.settings.metrics_token
    if token is not None:
        _check_metrics_token(request, token.get_secret_value().encode())
    # Behind a proxy whose forwarding is believed, the client the proxy names, never the proxy.
    elif not metrics.from_loopback(request.client.host if request.client is not None else ""):
        raise ApiError(Code.ROUTE_NOT_FOUND)
    try:
        text = await metrics.scrape(svc.db)
    except Exception:  # the counters still matter when the store is down
        log.warning("metrics: the outbox figures could not be read", exc_info=True)
        text = await metrics.scrape(None)
    return Response(text, media_type=metrics.CONTENT_TYPE)


class _Described:
    """The spec and the guide rendered from it, each built on its first request and then served
    as the same bytes: the routes cannot change while the app runs. The spec in another
    language (the API explorer's, ``?lang=``) likewise, once per language asked for."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._routes = routes
        spec = described.document(routes)
        self.spec = JSONResponse(spec).body
        self.llms = PlainTextResponse(guide.llms_txt(spec)).body
        self._in: dict[str, bytes] = {}

    def spec_in(self, language: str, words: NullTranslations) -> bytes:
        """The spec in ``language`` (not English: that is ``spec``), with ``words``."""
        found = self._in.get(language)
        if found is None:
            found = self._in[language] = bytes(
                JSONResponse(described.document(self._routes, words.gettext)).body
            )
        return found


def _described(request: Request) -> _Described:
    state = request.app.state
    found: _Described | None = getattr(state, "described", None)
    if found is None:
        found = state.described = _Described(request.app.routes)
    return found


async def openapi_json(request: Request) -> Response:
    """The document; ``?lang=zh`` (or ``ja``), its summaries in that language. Only a language
    asked for by name: a tool reading the document gets the same bytes whatever its headers
    say, and an unknown language is English, as everywhere."""
    language = languages.known(request.query_params.get(explorer.LANGUAGE_PARAM))
    if language is None or language == languages.DEFAULT:
        return Response(_described(request).spec, media_type="application/json")
    words = services(request).languages.of(language)
    return Response(_described(request).spec_in(language, words), media_type="application/json")


async def docs_page(request: Request) -> Response:
    """Swagger UI's page; the browser fetches the spec itself (from the route above), in the
    reader's language: the page's ``?lang=``, else the browser's ``Accept-Language``, else
    English (no one is signed in here, and the dashboard's cookies stay on its paths)."""
    language = languages.choose(
        picked=request.query_params.get(explorer.LANGUAGE_PARAM),
        header=request.headers.get("accept-language"),
    )
    return Response(
        explorer.page(language), media_type="text/html", headers={"Vary": "Accept-Language"}
    )


async def llms_txt(request: Request) -> Response:
    return Response(_described(request).llms, media_type="text/plain")


async def changelog(request: Request) -> Response:
    """What changed for the people who call the gateway, newest first, as a page."""
    # Rendered on a thread the first time (its Markdown library imported then): once.
    page = await asyncio.to_thread(changelog_page.page)
    return Response(page, media_type="text/html; charset=utf-8")


async def changelog_md(request: Request) -> Response:
    """The same, the text as written (Markdown), for tools and diffs."""
    return Response(changelog_page.markdown(), media_type="text/markdown; charset=utf-8")


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
        Mount(explorer.ASSETS_PATH, app=explorer.assets_app()),
        Route("/llms.txt", llms_txt, methods=["GET"]),
        Route("/changelog", changelog, methods=["GET"]),
        Route("/changelog.md", changelog_md, methods=["GET"]),
    ]
    if with_metrics:
        routes.append(Route("/metrics", metrics_text, methods=["GET"]))
    return routes
