"""The merchant dashboard, served at ``/dashboard``: server-rendered pages over the same
services as the API (a signed-in user acts through a ``Caller`` of their merchant and the
environment of the switch, ``context.require_viewer``).

Each page module holds ``routes``, paths relative to ``/dashboard`` (``Route("/wallet", …)`` is
``/dashboard/wallet``); ``routes()`` collects them. Every page is rendered with
``render.page``, every form read with ``csrf.form``; ``errors.HANDLERS`` answer failures with
pages, and ``security_headers.SecurityHeaders`` (installed on the app) sets the CSP and its
companions.
"""

from pathlib import Path

from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from . import (
    account,
    accounts,
    approval_link,
    apps,
    budgets,
    consent,
    developers,
    errors,
    freeze,
    fulfilment,
    golive,
    keys,
    live,
    mailbox,
    members,
    overview,
    password_reset,
    paths,
    payments,
    permissions,
    policy_templates,
    recipient,
    recipients,
    send,
    settings,
    telegram,
    topups,
    wallet,
    wallet_alerts,
    wallet_auto_top_up,
    wallet_cards,
    wallet_payer_keys,
    webhook_deliveries,
    webhooks,
)
from .paths import PREFIX

__all__ = ["PREFIX", "mount", "routes"]

STATIC = Path(__file__).parent / "static"


def routes() -> list[BaseRoute]:
    return [
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        *accounts.routes,
        *account.routes,
        *consent.routes,
        *apps.routes,
        *overview.routes,
        *policy_templates.routes,  # before keys: /keys/templates is not a key id
        *keys.routes,
        *budgets.routes,
        *send.routes,  # before topups: /topups/send is not a top-up id
        *topups.routes,
        *developers.routes,
        *live.routes,
        *wallet.routes,
        *wallet_cards.routes,
        *wallet_alerts.routes,
        *wallet_auto_top_up.routes,
        *wallet_payer_keys.routes,
        *payments.routes,
        *webhooks.routes,
        *webhook_deliveries.routes,
        *fulfilment.routes,
        *mailbox.routes,
        *recipient.routes,
        *recipients.routes,
        *password_reset.routes,
        *approval_link.routes,
        *telegram.routes,
        *members.routes,
        *settings.routes,
        *golive.routes,
        *freeze.routes,
    ]


async def _to_overview(request: Request) -> Response:
    # A relative Location: never built from the Host header.
    return RedirectResponse(PREFIX + "/", status_code=307)


def mount() -> list[BaseRoute]:
    """The dashboard for the app's routes: ``/dashboard`` itself leads to ``/dashboard/``."""
    router = Router(permissions.tag(routes()), redirect_slashes=False)
    app = ExceptionMiddleware(router, handlers=errors.HANDLERS)
    return [Route(PREFIX, _to_overview, methods=["GET", "HEAD"]), Mount(PREFIX, app=app)]


paths.use(routes)
