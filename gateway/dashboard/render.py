"""Pages: a Jinja2 template with what every page shows (the viewer, the CSRF token, where we
are, the environment switch), and the headers a page that shows a secret needs.

Templates autoescape everything; nothing a user typed reaches a page unescaped.
"""

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

__all__ = ["NAV", "TEMPLATES", "money", "page", "set_session_cookie", "when"]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

# (label, path): the dashboard's sections, in the nav's order.
NAV = (
    ("Overview", "/dashboard"),
    ("Keys", "/dashboard/keys"),
    ("Top-ups", "/dashboard/topups"),
    ("Recipients", "/dashboard/recipients"),
    ("Wallet", "/dashboard/wallet"),
    ("Webhooks", "/dashboard/webhooks"),
    ("Fulfilment", "/dashboard/fulfilment"),
    ("Mail", "/dashboard/mail"),
    ("Developers", "/dashboard/developers"),
    ("Members", "/dashboard/members"),
    ("Settings", "/dashboard/settings"),
    ("Go live", "/dashboard/go-live"),
)


TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["when"] = when
# A webhook URL as every page shows it: its query values (a receiver's token) not in clear. Only
# the edit form, for those who may edit it, holds it whole.
TEMPLATES.env.filters["masked"] = masked


def _section(path: str) -> str:
    """The nav entry the path is under: the longest matching one."""
    best = "/dashboard"
    for _, each in NAV:
        if (path == each or path.startswith(each + "/")) and len(each) > len(best):
            best = each
    return best


def set_session_cookie(request: Request, response: Any, session_id: str) -> None:
    """HttpOnly, SameSite=Lax, for the dashboard's paths only; Secure whenever the request came
    over https (as uvicorn reports it, behind the proxy too: ``AITOPUP_FORWARDED_ALLOW_IPS``)."""
    response.set_cookie(
        COOKIE,
        session_id,
        path="/dashboard",
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
        "nav": NAV,
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
