"""The ASGI app, assembled from settings once; clients live in the lifespan."""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import BaseRoute, Mount, Route, Router

from .accounts import passwords
from .api import PREFIX, admin, newapi, ops, public_routes
from .auth import ApiKeyBackend, ScopeChallenge, auth_error
from .dashboard import mount as dashboard_routes
from .dashboard.hub import LiveHub
from .dashboard.hub import state as live_state
from .mcp.http import PATH as MCP_PATH
from .mcp.http import McpHttp
from .oauth.routes import routes as oauth_routes
from .ops import collector
from .ops.logs import configure_logging
from .ops.middleware import RequestContext
from .ops.outage import StoreOutage
from .ops.url_text import UrlText
from .security_headers import SecurityHeaders
from .services import open_services
from .values.envelope import HANDLERS
from .values.settings import Settings, is_loopback, load_settings

__all__ = ["StartupRefused", "app_from_env", "check_startup", "create_app"]

log = logging.getLogger(__name__)


class StartupRefused(Exception):
    """The settings and where the gateway binds do not go together; the message says why."""


def check_startup(settings: Settings, *, host: str) -> None:
    """Before the gateway binds ``host``: refuse what is for development only (private webhook
    URLs, ``/metrics`` open to anyone) on a gateway that other machines can reach, and say once
    that private webhook URLs are on where they are allowed. A gateway that binds beyond
    loopback is a production one: that is the one line the settings draw between the two. Such
    a gateway without ``AITOPUP_PUBLIC_BASE_URL`` starts, with a warning: its links are a guess."""
    if settings.metrics and settings.metrics_token is None and not is_loopback(host):
        raise StartupRefused(
            "AITOPUP_METRICS_TOKEN is unset, so /metrics would answer anyone, but the gateway "
            f"would bind {host}: set it (32+ random characters), set AITOPUP_METRICS=false, or "
            "bind 127.0.0.1"
        )
    if settings.public_base_guessed and not is_loopback(host):
        log.warning(
            "AITOPUP_PUBLIC_BASE_URL is unset, but the gateway binds %s: links in mail, replies "
            "and pages would be built on a guess (the address this machine reaches it at), "
            "which others may not reach; set it to the address people and agents use",
            host,
        )
    if not settings.allow_private_webhook_urls:
        return
    if not is_loopback(host):
        raise StartupRefused(
            "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS is for a gateway on this machine alone, but it "
            f"would bind {host}: bind 127.0.0.1, or turn the setting off"
        )
    log.warning(
        "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS is on: staging webhook endpoints may point at this "
        "machine and its private networks (development only)"
    )


def create_app(settings: Settings) -> Starlette:
    pepper = settings.key_pepper.get_secret_value().encode()
    mcp = McpHttp(pepper, max_body_bytes=settings.max_body_bytes)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # Before the first sign-in, which must not wait for them (nor answer later for it).
        await asyncio.to_thread(passwords.prepare)
        async with open_services(settings) as svc:
            collector.started()  # the modules, the app, its clients: for the process's life
            hub = LiveHub(
                svc,
                per_user=settings.live_streams_per_user,
                per_process=settings.live_streams_per_process,
                per_merchant=settings.live_streams_merchant_share,
            )
            # The MCP door's sessions and the dashboard's live streams, inside the lifespan.
            async with mcp.running(), hub.running():
                yield {"services": svc, **live_state(hub)}

    backend = ApiKeyBackend(pepper)
    app = Starlette(
        routes=[
            _mount(PREFIX, [*public_routes(), *ops.spec_routes()]),
            _mount(admin.PREFIX, admin.routes),
            _mount(newapi.PREFIX, newapi.routes),
            Route(MCP_PATH, mcp),  # an ASGI app: every method, authenticated by the key
            *ops.root_routes(with_metrics=settings.metrics),
            *oauth_routes(),
            *dashboard_routes(),
        ],
        middleware=[
            Middleware(RequestContext, access_log=settings.access_log, metrics=settings.metrics),
            Middleware(StoreOutage),
            Middleware(UrlText, own_words=(newapi.PREFIX,)),
            Middleware(SecurityHeaders),
            Middleware(ScopeChallenge),
            Middleware(AuthenticationMiddleware, backend=backend, on_error=auth_error),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # see _mount
    return app


def _mount(path: str, routes: Sequence[BaseRoute]) -> Mount:
    """Routes under ``path``, with no redirect to the path without (or with) a trailing slash:
    Starlette builds that URL from the Host header, which the client chose. Such a path gets
    the 404 envelope instead, as any other unknown path does."""
    return Mount(path, app=Router(list(routes), redirect_slashes=False))


def app_from_env() -> Starlette:
    """Factory for uvicorn: ``uvicorn --factory gateway.app:app_from_env``."""
    settings = load_settings()  # secrets come from the environment
    configure_logging(settings.log_level)
    return create_app(settings)
