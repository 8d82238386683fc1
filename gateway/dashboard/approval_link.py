"""A held send's or payment's one-time decision link, opened from the approver's mail without
signing in (``approvals.links``). The GET is a confirmation page and decides nothing (a mail
scanner, a link preview); the form on it posts the decision, the token in the body. Both are counted
per client address as every one-time link's are (``accounts.throttle.link_limits``): a forged, spent
or expired link counts, a live one gives its count back. The decision is the dashboard's own
(``holds.doors.decide``: its kind of hold's own), made as the link's approver, and spends
the link only if it decides: an approval refused while the environment is frozen leaves the link as
it was. Only a mailed link decides here: a Telegram button's token is refused (its own door is the
press of its approver's linked Telegram user). A link acts only for the person it was sent to: one
opened or posted while another person is signed in on the browser is refused (``_person``)."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..approvals import links
from ..holds import doors, registry
from ..services import services
from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.outcome import ApiError
from .accounts import link_tries
from .context import Visit, visit
from .csrf import form
from .render import page

__all__ = ["routes"]

_TEMPLATE = "topups/approval_link.html"


def _token(value: object) -> str:
    return value[: links.TOKEN_LENGTH + 1] if isinstance(value, str) else ""


def _gone(request: Request) -> Response:
    return page(request, _TEMPLATE, {"review": None}, status=404, no_store=True)


# What the page says of a link refused for a reason of its own (anything else: ``_gone``).
_REFUSED = {
    Code.APPROVAL_TOKEN_WRONG_DOOR: "door",
    Code.ENVIRONMENT_FROZEN: "frozen",
    Code.APPROVAL_LINK_NOT_YOURS: "someone_else",
}


def _refused(request: Request, refused: ApiError) -> Response:
    """The page for a link that decided nothing: gone, or why not (``_REFUSED``)."""
    if refused.code in _REFUSED:
        context = {"review": None, "refused": _REFUSED[refused.code], "code": int(refused.code)}
        status = CATALOGUE[refused.code].http_status
        return page(request, _TEMPLATE, context, status=status, no_store=True)
    if refused.code in registry.gone():
        # spent, or decided meanwhile by another door, or expired, or its key revoked or expired
        return _gone(request)
    raise refused


def _person(visited: Visit) -> str | None:
    """The signed-in person opening a link, if any: a link acts only for the one it was sent to,
    so another person signed in on this browser is refused, whoever they are (an owner of the
    same merchant reading the staging mailbox included), and nothing is decided."""
    return visited.session.user_id if visited.session is not None else None


async def approval_page(request: Request) -> Response:
    visited = await visit(request)
    svc = services(request)
    token = _token(request.query_params.get("token"))
    limits, stopped = await link_tries(request)
    if stopped is not None:
        return stopped
    try:
        found = await doors.review(svc, token, person=_person(visited))
    except ApiError as refused:
        if refused.code in (Code.APPROVAL_LINK_INVALID, Code.APPROVAL_TOKEN_WRONG_DOOR):
            await svc.lockout.refused(svc.redis, limits)
        return _refused(request, refused)
    await svc.lockout.succeeded(svc.redis, limits)
    hold = registry.holding(found.transaction_id or "")
    if hold is None:  # a kind taken away since the link was opened
        return _gone(request)
    context = {"review": None, hold.page: found.data, "token": token}
    return page(request, _TEMPLATE, context, no_store=True)


async def decide(request: Request) -> Response:
    data = await form(request)
    visited = await visit(request)
    svc = services(request)
    choice = data.get("decision")
    if choice not in ("approve", "deny"):
        return page(request, _TEMPLATE, {"review": None}, status=422, no_store=True)
    limits, stopped = await link_tries(request)
    if stopped is not None:
        return stopped
    try:
        token = _token(data.get("token"))
        done = await doors.decide(svc, token, choice == "approve", person=_person(visited))
    except ApiError as refused:
        if refused.code in (Code.APPROVAL_LINK_INVALID, Code.APPROVAL_TOKEN_WRONG_DOOR):
            await svc.lockout.refused(svc.redis, limits)
        else:  # a live link, whose decision was refused: it gives its count back
            await svc.lockout.succeeded(svc.redis, limits)
        return _refused(request, refused)
    await svc.lockout.succeeded(svc.redis, limits)
    hold = registry.holding(done.transaction_id or "")
    context = {
        "review": None,
        "decided": choice,
        "status": done.status,
        "decided_page": hold.page if hold is not None else None,
    }
    return page(request, _TEMPLATE, context, no_store=True)


routes: list[BaseRoute] = [
    Route("/approval", approval_page, methods=["GET"], name="approval_page"),
    Route("/approval", decide, methods=["POST"], name="approval_decide"),
]
