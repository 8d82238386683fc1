"""Signing up, in and out, the environment switch and the password-set link of an invitation.

Sign-in always makes a new session id and drops the one the visitor came with, so an id known
before sign-in (planted, or seen) is worth nothing after it. Sign-in attempts are throttled per
pair of client and account and per client (``accounts.throttle``) across every gateway process,
counted before the password is hashed (Redis not answering refuses a sign-in, 503: a password is
never checked uncounted), and sign-up attempts per client
(``AITOPUP_SIGNUPS_PER_CLIENT_PER_HOUR``): each makes a merchant and hashes a password, so an
anonymous caller may not repeat it at will. Redis not answering refuses a sign-up (503) rather
than lift that bound. Every form that hashes a password takes one of the process's hash slots
(``AITOPUP_PASSWORD_HASHES_PER_PROCESS``) and is refused (503) when none is free. An
invitation's password-set link is counted per client (``throttle.link_limits``) and looked up
before any hash. Sign-up answers alike whether the address had an account (nothing is made) or
not, and any merchant name may be chosen: it tells nobody which addresses or names exist.
"""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..accounts import sessions, throttle, users
from ..accounts.fields import AccountError, canonical_email
from ..accounts.passwords import HashesBusy, HashSlots
from ..lockout import client_address
from ..operations import perform
from ..ratelimit import Decision, Limit, LimiterUnavailable, hit
from ..services import services
from ..store.engine import Database
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError, Outcome
from .context import COOKIE, link_address, local_path, require_viewer, visit
from .csrf import form
from .errors import error_page
from .paths import PREFIX, path_for
from .render import page, reading, set_session_cookie

__all__ = ["routes"]


def _text(value: object, limit: int = 1000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _signed_in(request: Request, session_id: str, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(request, response, session_id)
    return response


async def _ending(request: Request) -> str | None:
    """The session the visitor came with, which signing in ends, if they had one."""
    came_with = await visit(request)
    return came_with.session_id if came_with.session is not None else None


async def _start_session(request: Request, user_id: str, to: str) -> Response:
    """A new session for ``user_id``; the one the visitor came with is ended."""
    svc = services(request)
    started = sessions.start(svc.db, user_id, ending=await _ending(request))
    return _signed_in(request, (await perform(svc.waker, started)).one(str), to)


def _too_many(request: Request, decision: Decision) -> Response:
    return error_page(
        request,
        429,
        marked("Too many failed sign-ins. Try again in %(seconds)s seconds."),
        decision.headers(),
        {"seconds": decision.retry_after},
    )


_NOTICES = {
    "password-set": marked("Password set: sign in."),
    "signed-up": marked(
        "If this address was new here, its account is ready: sign in with the password "
        "you chose. If it already had an account, sign in with that account's password."
    ),
}


async def sign_in_page(request: Request) -> Response:
    if (await visit(request)).session is not None:
        return RedirectResponse(path_for("overview"), status_code=303)
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
    to = local_path(_text(data.get("next")), path_for("overview"))
    try:
        key = canonical_email(email)
    except AccountError:
        key = email.lower()
    limits = throttle.limits(svc.settings, key, client_address(request))
    try:
        locked = await svc.lockout.admit(svc.redis, limits)
    except LimiterUnavailable:
        return unavailable(request)
    if locked is not None:
        return _too_many(request, locked)
    ending = await _ending(request)
    try:
        with svc.hashes.slot():
            signed_in = await perform(
                svc.waker, users.sign_in(svc.db, email, password, ending=ending)
            )
    except HashesBusy:
        await svc.lockout.succeeded(svc.redis, limits)  # not checked, so not a failure
        return busy(request)
    except ApiError as refused:
        if refused.code != Code.SIGN_IN_FAILED:
            raise
        await svc.lockout.refused(svc.redis, limits)
        return page(
            request,
            "accounts/sign_in.html",
            {
                "email": email,
                "next": to,
                "signup_open": svc.settings.signup_open,
                "error": f"{refused.message}.",
            },
            status=401,
        )
    await svc.lockout.succeeded(svc.redis, limits)
    return _signed_in(request, signed_in.one(str), to)


def busy(request: Request) -> Response:
    return error_page(
        request,
        503,
        marked("The server is busy checking passwords. Try again in a moment."),
        {"Retry-After": "1"},
    )


def unavailable(request: Request) -> Response:
    """Attempts at a password or a link cannot be counted (Redis): refused, never uncounted."""
    return error_page(
        request, 503, marked("Signing in is unavailable for a moment. Try again shortly."),
        {"Retry-After": "1"},
    )  # fmt: skip


def too_many_links(request: Request, decision: Decision) -> Response:
    return error_page(
        request,
        429,
        marked("Too many tries with links from this address. Try again in %(seconds)s seconds."),
        decision.headers(),
        {"seconds": decision.retry_after},
    )


async def link_tries(request: Request) -> tuple[list[Limit], Response | None]:
    """A link's password form, counted for its client before the link is looked up: the
    limits to give back once the link was not the failure, and the refusal if any."""
    svc = services(request)
    limits = throttle.link_limits(svc.settings, client_address(request))
    try:
        locked = await svc.lockout.admit(svc.redis, limits)
    except LimiterUnavailable:
        return limits, unavailable(request)
    return limits, None if locked is None else too_many_links(request, locked)


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
        return RedirectResponse(path_for("overview"), status_code=303)
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
            made = users.sign_up(
                svc.db,
                svc.settings,
                email=fields["email"],
                password=_text(data.get("password"), 2000),
                merchant_name=fields["merchant_name"],
                # The language this page was read in: the merchant's recipients' to start with.
                language=reading(request).language,
            )
            await perform(svc.waker, made)
    except HashesBusy:
        return busy(request)
    except AccountError as refused:
        return _sign_up_page(request, fields, {refused.field: refused.sentence}, 422)
    # The same answer whether the address was new (an account made) or had an account
    # (nothing made): signing in is the next step either way.
    return RedirectResponse(path_for("sign_in_page") + "?signed-up", status_code=303)


SIGNUP_WINDOW_SECONDS = 3600


async def _sign_ups_exhausted(request: Request) -> Response | None:
    """Count this sign-up attempt against its client's hour; the refusal once past it."""
    svc = services(request)
    bucket = f"signup:client:{client_address(request)}"
    try:
        decision = await hit(
            svc.redis,
            bucket,
            svc.settings.signups_per_client_per_hour,
            SIGNUP_WINDOW_SECONDS,
            closed=True,
            answer_within=svc.settings.redis_answer_seconds,
        )
    except LimiterUnavailable:
        paused = marked("Sign-up is unavailable for a moment. Try again shortly.")
        return error_page(request, 503, paused)
    if decision.allowed:
        return None
    return error_page(
        request,
        429,
        marked("Too many sign-ups from this address. Try again in %(seconds)s seconds."),
        decision.headers(),
        {"seconds": decision.retry_after},
    )


async def sign_out(request: Request) -> Response:
    await form(request)
    came_with = await visit(request)
    if came_with.session is not None:
        svc = services(request)
        await perform(svc.waker, sessions.end(svc.db, came_with.session_id))
    response = RedirectResponse(path_for("sign_in_page"), status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


async def switch_env(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    env = _text(data.get("env"))
    if env in sessions.ENVS and env != viewer.env:
        session = (await visit(request)).session
        assert session is not None
        svc = services(request)
        await perform(svc.waker, sessions.switch_env(svc.db, session.id_hash, env))
    return RedirectResponse(
        local_path(_text(data.get("next")), path_for("overview")), status_code=303
    )


# A link e-mailed to set a password (an invitation's, a reset's), by the account operations that
# look its token up (the address, the data) and spend it on a password (the user, the data).
LinkAddress = Callable[[Database, str], Awaitable[Outcome]]
LinkSpend = Callable[[Database, str, str, HashSlots], Awaitable[Outcome]]


async def password_link_page(
    request: Request, template: str, token_length: int, address: LinkAddress
) -> Response:
    """The form a password link opens (``template``); a 404 page for a token no link has."""
    token = request.query_params.get("token", "")[:token_length]
    svc = services(request)
    email = await link_address(perform(svc.waker, address(svc.db, token))) if token else None
    return page(
        request,
        template,
        {"email": email, "token": token, "errors": {}},
        status=200 if email else 404,
        no_store=True,
    )


async def spend_password_link(
    request: Request, template: str, token_length: int, address: LinkAddress, spend: LinkSpend
) -> Response:
    """The post of a password link's form: counted before the link is looked up, then the
    password set and a new session started (the one the visitor came with is ended)."""
    data = await form(request)
    svc = services(request)
    token = _text(data.get("token"), token_length)
    limits, stopped = await link_tries(request)
    if stopped is not None:
        return stopped
    try:
        spending = spend(svc.db, token, _text(data.get("password"), 2000), svc.hashes)
        user = (await perform(svc.waker, spending)).one(users.UserInfo)
    except HashesBusy:
        await svc.lockout.succeeded(svc.redis, limits)  # a live link, not a failure
        return busy(request)
    except AccountError as refused:
        await svc.lockout.succeeded(svc.redis, limits)  # the link was not tried
        return page(
            request,
            template,
            {
                "email": await link_address(perform(svc.waker, address(svc.db, token))),
                "token": token,
                "errors": {refused.field: refused.sentence},
            },
            status=422,
            no_store=True,
        )
    except ApiError as refused:
        if refused.code != Code.ACCOUNT_LINK_INVALID:
            raise
        await svc.lockout.refused(svc.redis, limits)
        return page(
            request,
            template,
            {"email": None, "token": "", "errors": {}},
            status=404,
            no_store=True,
        )
    await svc.lockout.succeeded(svc.redis, limits)
    return await _start_session(request, user.id, path_for("overview"))


_INVITATION_FORM = "accounts/set_password.html"
_INVITATION_TOKEN_LENGTH = 100


async def set_password_page(request: Request) -> Response:
    return await password_link_page(
        request, _INVITATION_FORM, _INVITATION_TOKEN_LENGTH, users.invitee
    )


async def set_password(request: Request) -> Response:
    return await spend_password_link(
        request, _INVITATION_FORM, _INVITATION_TOKEN_LENGTH, users.invitee, users.set_password
    )


async def accept_invitation_page(request: Request) -> Response:
    """An invitation's link, opened signed in: what it invites to, and the form that accepts
    it. A link that is not this user's (or spent, replaced, expired) is a 404 page."""
    viewer = await require_viewer(request)
    merchant_id = str(request.path_params["merchant_id"])[:40]
    token = request.query_params.get("token", "")
    svc = services(request)
    try:
        found = await perform(
            svc.waker, users.invitation(svc.db, viewer.user_id, merchant_id, token)
        )
    except ApiError as refused:
        if refused.code != Code.INVITATION_NOT_FOUND:
            raise
        return error_page(request, 404, f"{refused.message}.")
    shown = {"invitation": found.one(users.PendingInvitation), "token": token}
    return page(request, "accounts/accept_invitation.html", shown, no_store=True)


async def accept_invitation(request: Request) -> Response:
    """The signed-in user accepts an invitation to act for a merchant too, with its link's
    token: only whoever reads the invited address holds it, and only the invited account may
    spend it, so neither an invitation alone nor an account of its address adds anyone."""
    viewer = await require_viewer(request)
    data = await form(request)
    merchant_id = str(request.path_params["merchant_id"])[:40]
    token = str(data.get("token", ""))
    svc = services(request)
    accepting = users.accept_invitation(svc.db, viewer.user_id, merchant_id, token)
    try:
        await perform(svc.waker, accepting)
    except ApiError as refused:
        if refused.code != Code.INVITATION_NOT_FOUND:
            raise
        return error_page(request, 404, f"{refused.message}.")
    return RedirectResponse(path_for("overview"), status_code=303)


routes: list[BaseRoute] = [
    Route("/sign-in", sign_in_page, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-up", sign_up_page, methods=["GET"]),
    Route("/sign-up", sign_up, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
    Route("/env", switch_env, methods=["POST"]),
    Route("/set-password", set_password_page, methods=["GET"]),
    Route("/set-password", set_password, methods=["POST"]),
    Route("/invitations/{merchant_id}/accept", accept_invitation_page, methods=["GET"]),
    Route("/invitations/{merchant_id}/accept", accept_invitation, methods=["POST"]),
]
