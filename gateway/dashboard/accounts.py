"""Signing up, in and out, the environment switch and the password-set link of an invitation.

Sign-in always makes a new session id and drops the one the visitor came with, so an id known
before sign-in (planted, or seen) is worth nothing after it. Sign-in attempts are throttled per
pair of client and account and per client (``accounts.throttle``) across every gateway process,
counted before the password is hashed, and sign-up
attempts per client (``AITOPUP_SIGNUPS_PER_CLIENT_PER_HOUR``): each makes a merchant and hashes
a password, so an anonymous caller may not repeat it at will. Redis not answering refuses a
sign-up (503) rather than lift that bound. Every form that hashes a password takes one of the
process's hash slots (``AITOPUP_PASSWORD_HASHES_PER_PROCESS``) and is refused (503) when none is
free. Sign-up answers alike whether the address had an account (nothing is made) or not, and any
merchant name may be chosen: it tells nobody which addresses or names exist.
"""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..accounts import sessions, throttle, users
from ..accounts.passwords import HashesBusy
from ..lockout import client_address
from ..ratelimit import Decision, LimiterUnavailable, hit
from ..services import services
from .context import COOKIE, local_path, require_viewer, visit
from .csrf import form
from .errors import error_page
from .render import page, set_session_cookie

__all__ = ["routes"]


def _text(value: object, limit: int = 1000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _signed_in(request: Request, session_id: str, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(request, response, session_id)
    return response


async def _start_session(request: Request, user_id: str, to: str) -> Response:
    """A new session for ``user_id``; the one the visitor came with is ended."""
    came_with = await visit(request)
    svc = services(request)
    if came_with.session is not None:
        await sessions.end(svc.db, came_with.session_id)
    return _signed_in(request, await sessions.create(svc.db, user_id), to)


def _too_many(request: Request, decision: Decision) -> Response:
    return error_page(
        request,
        429,
        f"Too many failed sign-ins. Try again in {decision.retry_after} seconds.",
        decision.headers(),
    )


_NOTICES = {
    "password-set": "Password set: sign in.",
    "signed-up": "If this address was new here, its account is ready: sign in with the password "
    "you chose. If it already had an account, sign in with that account's password.",
}


async def sign_in_page(request: Request) -> Response:
    if (await visit(request)).session is not None:
        return RedirectResponse("/dashboard/", status_code=303)
    settings = services(request).settings
    return page(
        request,
        "accounts/sign_in.html",
        {
            "email": "",
            "next": local_path(request.query_params.get("next"), ""),
            "signup_open": settings.signup_open,
            "notice": _NOTICES.get(
                next((q for q in request.query_params if q in _NOTICES), ""), ""
            ),
        },
    )


async def sign_in(request: Request) -> Response:
    data = await form(request)
    svc = services(request)
    email = _text(data.get("email"), 300).strip()
    password = _text(data.get("password"))
    to = local_path(_text(data.get("next")), "/dashboard/")
    try:
        key = users.canonical_email(email)
    except users.AccountError:
        key = email.lower()
    limits = throttle.limits(svc.settings, key, client_address(request))
    locked = await svc.lockout.locked(svc.redis, limits)
    if locked is None:
        # Counted before the hash: a burst past the limit is refused without hashing.
        locked = await svc.lockout.attempt(svc.redis, limits)
    if locked is not None:
        return _too_many(request, locked)
    try:
        with svc.hashes.slot():
            user = await users.check_password(svc.db, email, password)
    except HashesBusy:
        await svc.lockout.succeeded(svc.redis, limits)  # not checked, so not a failure
        return _busy(request)
    if user is None:
        return page(
            request,
            "accounts/sign_in.html",
            {
                "email": email,
                "next": to,
                "signup_open": svc.settings.signup_open,
                "error": "That e-mail address and password do not match an account.",
            },
            status=401,
        )
    await svc.lockout.succeeded(svc.redis, limits)
    return await _start_session(request, user.id, to)


def _busy(request: Request) -> Response:
    return error_page(
        request,
        503,
        "The server is busy checking passwords. Try again in a moment.",
        {"Retry-After": "1"},
    )


def _sign_up_page(
    request: Request, fields: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    return page(
        request,
        "accounts/sign_up.html",
        {**fields, "errors": errors, "signup_open": services(request).settings.signup_open},
        status=status,
    )


async def sign_up_page(request: Request) -> Response:
    if (await visit(request)).session is not None:
        return RedirectResponse("/dashboard/", status_code=303)
    open_ = services(request).settings.signup_open
    return _sign_up_page(request, {"email": "", "merchant_name": ""}, {}, 200 if open_ else 403)


async def sign_up(request: Request) -> Response:
    data = await form(request)
    svc = services(request)
    fields = {
        "email": _text(data.get("email"), 300).strip(),
        "merchant_name": _text(data.get("merchant_name"), 300).strip(),
    }
    if not svc.settings.signup_open:
        return _sign_up_page(request, fields, {}, 403)
    exhausted = await _sign_ups_exhausted(request)
    if exhausted is not None:
        return exhausted
    try:
        with svc.hashes.slot():
            await users.sign_up(
                svc.db,
                svc.settings,
                email=fields["email"],
                password=_text(data.get("password"), 2000),
                merchant_name=fields["merchant_name"],
            )
    except HashesBusy:
        return _busy(request)
    except users.AccountError as refused:
        return _sign_up_page(request, fields, {refused.field: refused.message}, 422)
    # The same answer whether the address was new (an account made) or had an account
    # (nothing made): signing in is the next step either way.
    return RedirectResponse("/dashboard/sign-in?signed-up", status_code=303)


SIGNUP_WINDOW_SECONDS = 3600


async def _sign_ups_exhausted(request: Request) -> Response | None:
    """Count this sign-up attempt against its client's hour; the refusal once past it."""
    svc = services(request)
    bucket = f"signup:client:{client_address(request)}"
    try:
        decision = await hit(
            svc.redis, bucket, svc.settings.signups_per_client_per_hour, SIGNUP_WINDOW_SECONDS
        )
    except LimiterUnavailable:
        return error_page(request, 503, "Sign-up is unavailable for a moment. Try again shortly.")
    if decision.allowed:
        return None
    return error_page(
        request,
        429,
        f"Too many sign-ups from this address. Try again in {decision.retry_after} seconds.",
        decision.headers(),
    )


async def sign_out(request: Request) -> Response:
    await form(request)
    came_with = await visit(request)
    if came_with.session is not None:
        await sessions.end(services(request).db, came_with.session_id)
    response = RedirectResponse("/dashboard/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


async def switch_env(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    env = _text(data.get("env"))
    if env in sessions.ENVS and env != viewer.env:
        session = (await visit(request)).session
        assert session is not None
        await sessions.switch_env(services(request).db, session.id_hash, env)
    return RedirectResponse(local_path(_text(data.get("next")), "/dashboard/"), status_code=303)


async def set_password_page(request: Request) -> Response:
    token = request.query_params.get("token", "")[:100]
    email = await users.invitee(services(request).db, token) if token else None
    return page(
        request,
        "accounts/set_password.html",
        {"email": email, "token": token, "errors": {}},
        status=200 if email else 404,
        no_store=True,
    )


async def set_password(request: Request) -> Response:
    data = await form(request)
    svc = services(request)
    db = svc.db
    token = _text(data.get("token"), 100)
    try:
        with svc.hashes.slot():
            user = await users.set_password(db, token, _text(data.get("password"), 2000))
    except HashesBusy:
        return _busy(request)
    except users.AccountError as refused:
        email = await users.invitee(db, token)
        return page(
            request,
            "accounts/set_password.html",
            {"email": email, "token": token, "errors": {refused.field: refused.message}},
            status=422,
            no_store=True,
        )
    if user is None:
        return page(
            request,
            "accounts/set_password.html",
            {"email": None, "token": "", "errors": {}},
            status=404,
            no_store=True,
        )
    return await _start_session(request, user.id, "/dashboard/")


async def accept_invitation(request: Request) -> Response:
    """The signed-in user accepts an operator's invitation to act for a merchant too; only the
    invited user can, so an invitation alone never adds anyone to a merchant."""
    viewer = await require_viewer(request)
    await form(request)
    merchant_id = str(request.path_params["merchant_id"])[:40]
    if not await users.accept_invitation(services(request).db, viewer.user_id, merchant_id):
        return error_page(request, 404, "There is no such invitation for this account.")
    return RedirectResponse("/dashboard/", status_code=303)


routes: list[BaseRoute] = [
    Route("/sign-in", sign_in_page, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-up", sign_up_page, methods=["GET"]),
    Route("/sign-up", sign_up, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
    Route("/env", switch_env, methods=["POST"]),
    Route("/set-password", set_password_page, methods=["GET"]),
    Route("/set-password", set_password, methods=["POST"]),
    Route("/invitations/{merchant_id}/accept", accept_invitation, methods=["POST"]),
]
