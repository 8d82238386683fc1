"""Forgot password: ask for a reset link by e-mail (the same answer whether or not the address
has an account; counted per client address and per address an hour), then set a new password
from the link (single use, expiring), which ends every other session of the account, voids its
other links and signs this one in (``accounts.resets``). Posts of a new password are counted per
client address (``throttle.link_limits``) and the link looked up before any hash, so a forged
one costs none of the hash slots sign-in needs."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..accounts import fields, resets
from ..lockout import client_address
from ..operations import perform
from ..services import services
from ..values.codes import CATALOGUE
from ..values.outcome import ApiError
from .accounts import password_link_page, spend_password_link
from .context import visit
from .csrf import form
from .errors import error_page
from .render import page

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
        email = fields.canonical_email(given)
    except fields.AccountError as refused:
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


_RESET_FORM = "accounts/reset_password.html"


async def reset_page(request: Request) -> Response:
    await visit(request)
    return await password_link_page(request, _RESET_FORM, resets.TOKEN_LENGTH, resets.resetting)


async def reset(request: Request) -> Response:
    # Every session of the account ended with the reset; this browser starts a new one.
    return await spend_password_link(
        request, _RESET_FORM, resets.TOKEN_LENGTH, resets.resetting, resets.reset_password
    )


routes: list[BaseRoute] = [
    Route("/forgot-password", forgot_page, methods=["GET"]),
    Route("/forgot-password", forgot, methods=["POST"]),
    Route("/reset-password", reset_page, methods=["GET"]),
    Route("/reset-password", reset, methods=["POST"]),
]
