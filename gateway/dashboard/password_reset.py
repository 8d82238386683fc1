"""Forgot password: ask for a reset link by e-mail (the same answer whether or not the address
has an account; counted per client address and per address an hour), then set a new password
from the link (single use, expiring), which ends every other session of the account, voids its
other links and signs this one in (``accounts.resets``). Posts of a new password are counted per
client address (``throttle.link_limits``) and the link looked up before any hash, so a forged
one costs none of the hash slots sign-in needs."""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..accounts import resets, users
from ..accounts import sessions as account_sessions
from ..accounts.passwords import HashesBusy
from ..lockout import client_address
from ..operations import perform
from ..services import services
from ..values.codes import CATALOGUE, Code
from ..values.outcome import ApiError
from .accounts import busy, link_tries
from .context import link_address, visit
from .csrf import form
from .errors import error_page
from .paths import path_for
from .render import page, set_session_cookie

__all__ = ["routes"]


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


async def forgot_page(request: Request) -> Response:
    await visit(request)
    return page(request, "accounts/forgot_password.html", {"errors": {}, "email": ""})


async def forgot(request: Request) -> Response:
    data = await form(request)
    svc = services(request)
    given = _text(data.get("email"), 300)
    try:
        email = users.canonical_email(given)
    except users.AccountError as refused:
        return page(
            request,
            "accounts/forgot_password.html",
            {"errors": {refused.field: refused.sentence}, "email": given},
            status=422,
        )
    try:
        await perform(
            svc.waker,
            resets.request_reset(
                svc.db,
                svc.redis,
                svc.sealer,
                svc.settings,
                email=email,
                client=client_address(request),
            ),
        )
    except ApiError as refused:
        return error_page(
            request, CATALOGUE[refused.code].http_status, refused.message, refused.headers
        )
    return page(request, "accounts/forgot_password.html", {"sent": True}, status=202)


async def reset_page(request: Request) -> Response:
    await visit(request)
    token = request.query_params.get("token", "")[: resets.TOKEN_LENGTH]
    svc = services(request)
    email = await link_address(perform(svc.waker, resets.resetting(svc.db, token)))
    return page(
        request,
        "accounts/reset_password.html",
        {"email": email, "token": token, "errors": {}},
        status=200 if email else 404,
        no_store=True,
    )


async def reset(request: Request) -> Response:
    data = await form(request)
    svc = services(request)
    token = _text(data.get("token"), resets.TOKEN_LENGTH)
    limits, stopped = await link_tries(request)
    if stopped is not None:
        return stopped
    try:
        resetting = resets.reset_password(
            svc.db, token, _text(data.get("password"), 2000), hashes=svc.hashes
        )
        user = (await perform(svc.waker, resetting)).one(users.UserInfo)
    except HashesBusy:
        await svc.lockout.succeeded(svc.redis, limits)  # a live link, not a failure
        return busy(request)
    except users.AccountError as refused:
        await svc.lockout.succeeded(svc.redis, limits)  # the link was not tried
        return page(
            request,
            "accounts/reset_password.html",
            {
                "email": await link_address(perform(svc.waker, resets.resetting(svc.db, token))),
                "token": token,
                "errors": {refused.field: refused.sentence},
            },
            status=422,
            no_store=True,
        )
    except ApiError as refused:
        if refused.code != Code.ACCOUNT_LINK_INVALID:
            raise
        return page(
            request,
            "accounts/reset_password.html",
            {"email": None, "token": "", "errors": {}},
            status=404,
            no_store=True,
        )
    await svc.lockout.succeeded(svc.redis, limits)
    # Every session of the account ended with the reset; this browser starts a new one.
    came_with = await visit(request)
    ending = came_with.session_id if came_with.session is not None else None
    started = account_sessions.start(svc.db, user.id, ending=ending)
    response = RedirectResponse(path_for("overview"), status_code=303)
    set_session_cookie(request, response, (await perform(svc.waker, started)).one(str))
    return response


routes: list[BaseRoute] = [
    Route("/forgot-password", forgot_page, methods=["GET"]),
    Route("/forgot-password", forgot, methods=["POST"]),
    Route("/reset-password", reset_page, methods=["GET"]),
    Route("/reset-password", reset, methods=["POST"]),
]
