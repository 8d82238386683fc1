"""Pages: a Jinja2 template with what every page shows (the viewer, the CSRF token, where we
are, the environment switch), and the headers a page that shows a secret needs.

Templates autoescape everything; nothing a user typed reaches a page unescaped.
"""

import functools
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from ..accounts.sessions import ENVS
from ..values.clock import when
from ..values.money import money
from ..webhooks.urls import masked
from .context import COOKIE, Visit, current_viewer, known_visit
from .paths import PREFIX, path_for

__all__ = ["SECTIONS", "TEMPLATES", "money", "nav", "page", "set_session_cookie", "when"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

# (label, route): the dashboard's sections, in the nav's order.
SECTIONS = (
    ("Overview", "overview"),
    ("Keys", "list_keys"),
    ("Apps", "apps_page"),
    ("Top-ups", "list_topups"),
    ("Recipients", "recipients_page"),
    ("Wallet", "wallet_page"),
    ("Webhooks", "home"),
    ("Fulfilment", "fulfilment"),
    ("Mail", "mail_page"),
    ("Developers", "developers"),
    ("Members", "members_page"),
    ("Settings", "settings_page"),
    ("Go live", "go_live"),
)


@functools.cache
def nav() -> tuple[tuple[str, str], ...]:
    """(label, path) of each section: the overview's without its trailing slash, so that it
    is the prefix of every other."""
    return tuple((label, path_for(name).rstrip("/") or "/") for label, name in SECTIONS)


TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["when"] = when
# A webhook URL as every page shows it: its query values (a receiver's token) not in clear. Only
# the edit form, for those who may edit it, holds it whole.
TEMPLATES.env.filters["masked"] = masked
TEMPLATES.env.globals["path_for"] = path_for


def _section(path: str) -> str:
    """The nav entry the path is under: the longest matching one."""
    sections = nav()
    best = sections[0][1]
    for _, each in sections:
        if (path == each or path.startswith(each + "/")) and len(each) > len(best):
            best = each
    return best


def set_session_cookie(request: Request, response: Any, session_id: str) -> None:
    """HttpOnly, SameSite=Lax, for the dashboard's paths only; Secure whenever the request came
    over https (as uvicorn reports it, behind the proxy too: ``AITOPUP_FORWARDED_ALLOW_IPS``)."""
    response.set_cookie(
        COOKIE,
        session_id,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    no_store: bool = False,
) -> HTMLResponse:
    """``template`` rendered with ``context`` plus ``viewer``, ``csrf_token``, ``path``,
    ``section``, ``nav``, ``env`` and ``envs``; ``no_store`` for every page showing a secret."""
    the_visit: Visit = known_visit(request)
    viewer = current_viewer(request)
    path = request.url.path
    full = {
        **context,
        "viewer": viewer,
        "csrf_token": the_visit.csrf_token,
        "path": path,
        "here": path + ("?" + request.url.query if request.url.query else ""),
        "section": _section(path),
        "nav": nav(),
        "env": viewer.env if viewer is not None else None,
        "envs": ENVS,
    }
    headers = {"Cache-Control": "no-store"} if no_store else {"Cache-Control": "private, no-cache"}
    response = TEMPLATES.TemplateResponse(
        request, template, full, status_code=status, headers=headers
    )
    if the_visit.set_cookie:
        set_session_cookie(request, response, the_visit.session_id)
    return response
