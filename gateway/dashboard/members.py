"""Members: who acts for the merchant and as what. Owners invite (with a role), change roles and
remove members; the merchant always keeps an owner (``accounts.members``). Every member reads
the list. An invited address without an account gets a one-time link to set its password, and
one with an account a one-time link to accept the invitation: either is shown here once to the
owner who invited (the page is never cached), to send to that address.
"""

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..accounts import fields, invitations
from ..accounts import members as member_service
from ..accounts.role_names import ROLES
from ..accounts.roles import RULES
from ..operations import perform
from ..services import services
from ..values.outcome import ApiError
from ..values.public_base import public_base
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import field, problem
from .paths import path_for
from .render import page

__all__ = ["routes"]

_USER_ID = re.compile(r"usr_[0-9a-z]{24}")
_NOTICES = {
    "role": "Role changed.",
    "removed": "Member removed.",
    "invited": "They are a member already: nothing changed.",
}


def _user_id(request: Request) -> str:
    found: str = request.path_params["user_id"]
    if not _USER_ID.fullmatch(found):
        raise HTTPException(404)
    return found


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    link: str | None = None,
    pending: bool = False,
    status: int = 200,
) -> Response:
    svc = services(request)
    listed = await perform(svc.waker, member_service.members(svc.db, viewer.merchant_id))
    found = listed.many(member_service.Member)
    return page(
        request,
        "members/index.html",
        {
            "members": found,
            "roles": ROLES,
            "rules": RULES,
            "values": values or {"email": "", "role": "developer"},
            "errors": errors or {},
            "link": link,
            "pending": pending,
            "notice": _NOTICES.get(request.query_params.get("notice", "")),
        },
        status=status,
        no_store=link is not None,
    )


async def members_page(request: Request) -> Response:
    return await _page(request, await require_viewer(request))


async def invite(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    values = {"email": field(data, "email", 300).strip(), "role": field(data, "role", 20)}
    svc = services(request)
    # Never from the Host header: its client chooses it.
    base = public_base(svc.settings)
    inviting = invitations.invite(
        svc.db, viewer.merchant_id, values["email"], base, role=values["role"]
    )
    try:
        made = (await perform(svc.waker, inviting)).one(invitations.InviteData)
    except fields.AccountError as refused:
        errors = {refused.field: refused.sentence}
        return await _page(request, viewer, values=values, errors=errors, status=422)
    link = made.set_password_url or made.accept_url
    if link is None:  # a member already
        return RedirectResponse(path_for("members_page") + "?notice=invited", status_code=303)
    return await _page(request, viewer, link=link, pending=made.pending, status=201)


async def change_role(request: Request) -> Response:
    viewer = await require_viewer(request)
    user_id = _user_id(request)
    data = await form(request)
    svc = services(request)
    changing = member_service.change_role(
        svc.db, viewer.merchant_id, user_id, field(data, "role", 20)
    )
    try:
        await perform(svc.waker, changing)
    except ApiError as refused:
        status, message = problem(refused)
        return await _page(request, viewer, errors={f"role-{user_id}": message}, status=status)
    return RedirectResponse(path_for("members_page") + "?notice=role", status_code=303)


async def remove(request: Request) -> Response:
    viewer = await require_viewer(request)
    user_id = _user_id(request)
    await form(request)
    svc = services(request)
    try:
        await perform(svc.waker, member_service.remove(svc.db, viewer.merchant_id, user_id))
    except ApiError as refused:
        status, message = problem(refused)
        return await _page(request, viewer, errors={f"role-{user_id}": message}, status=status)
    target = path_for("members_page") + "?notice=removed"
    if user_id == viewer.user_id:
        target = path_for(
            "overview"
        )  # they left: next comes another merchant of theirs, or sign-in
    return RedirectResponse(target, status_code=303)


routes: list[BaseRoute] = [
    Route("/members", members_page, methods=["GET"]),
    Route("/members", invite, methods=["POST"]),
    Route("/members/{user_id}/role", change_role, methods=["POST"]),
    Route("/members/{user_id}/remove", remove, methods=["POST"]),
]
