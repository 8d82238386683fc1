"""The signed-in user's own account: the language they read the dashboard in, change of
password and sign out everywhere.

A change of password asks for the current one, counted like a sign-in attempt (per pair of
client and account, before any hash: ``accounts.throttle``) so a borrowed session cannot guess
it at will (Redis not answering refuses it: never checked uncounted), and takes the process's
hash slots as every form that hashes does. A changed password ends the user's other sessions, as
a stolen one should not outlive it; "sign out everywhere" ends all of them, this one too.
"""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..accounts import fields, sessions, throttle, users
from ..accounts.passwords import HashesBusy
from ..lockout import client_address
from ..operations import perform
from ..ratelimit import LimiterUnavailable
from ..services import services
from ..values import languages
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError
from .accounts import unavailable
from .context import COOKIE, Viewer, require_viewer, visit
from .csrf import form
from .errors import error_page
from .inputs import field
from .paths import PREFIX, path_for
from .render import page

__all__ = ["routes"]

_NOTICES = {
    "password": marked("Password changed. Your other sessions are signed out."),
    "language": marked("Language saved."),
}


def _account_page(
    request: Request, viewer: Viewer, errors: dict[str, str], status: int = 200
) -> Response:
    notice = _NOTICES.get(request.query_params.get("notice", ""))
    return page(
        request,
        "accounts/account.html",
        {
            "email": viewer.email,
            "errors": errors,
            "notice": notice,
            "languages": languages.NAMES,
            "chosen": viewer.language or "",
        },
        status=status,
    )


async def account_page(request: Request) -> Response:
    return _account_page(request, await require_viewer(request), {})


async def change_password(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    current, new = str(data.get("current_password", "")), str(data.get("new_password", ""))
    svc = services(request)
    limits = throttle.limits(svc.settings, viewer.email, client_address(request))
    try:
        locked = await svc.lockout.admit(svc.redis, limits)
    except LimiterUnavailable:
        return unavailable(request)
    if locked is not None:
        return error_page(
            request, 429, marked("Too many tries. Wait a while and try again."), locked.headers()
        )
    session = (await visit(request)).session
    keeping = session.id_hash if session is not None else None
    try:
        with svc.hashes.slot():
            changing = users.change_password(svc.db, viewer.user_id, current, new, keeping=keeping)
            await perform(svc.waker, changing)
    except HashesBusy:
        await svc.lockout.succeeded(svc.redis, limits)  # not checked, so not a failure
        return error_page(
            request, 503, marked("The server is busy. Try again in a moment."), {"Retry-After": "1"}
        )
    except fields.AccountError as refused:
        await svc.lockout.succeeded(svc.redis, limits)  # the current password was not tried
        return _account_page(request, viewer, {"new_password": refused.sentence}, 422)
    except ApiError as refused:
        if refused.code != Code.PASSWORD_INCORRECT:
            raise
        await svc.lockout.refused(svc.redis, limits)
        errors = {"current_password": f"{refused.message}."}
        return _account_page(request, viewer, errors, 422)
    await svc.lockout.succeeded(svc.redis, limits)
    return RedirectResponse(path_for("account_page") + "?notice=password", status_code=303)


async def set_language(request: Request) -> Response:
    """The viewer's own language (empty: their browser's), shown at once on the next page."""
    viewer = await require_viewer(request)
    data = await form(request)
    given = field(data, "language", 16).strip()
    svc = services(request)
    try:
        await perform(svc.waker, users.set_language(svc.db, viewer.user_id, given))
    except ApiError as refused:
        if refused.code != Code.LANGUAGE_UNKNOWN:
            raise
        return _account_page(request, viewer, {"language": refused.message}, 422)
    return RedirectResponse(path_for("account_page") + "?notice=language", status_code=303)


async def sign_out_everywhere(request: Request) -> Response:
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    await perform(svc.waker, sessions.end_all(svc.db, viewer.user_id))
    response = RedirectResponse(path_for("sign_in_page"), status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


routes: list[BaseRoute] = [
    Route("/account", account_page, methods=["GET"]),
    Route("/account/password", change_password, methods=["POST"]),
    Route("/account/language", set_language, methods=["POST"]),
    Route("/account/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
]
