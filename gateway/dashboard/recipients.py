"""Recipients: every address the switch's environment has sent top-ups to, with its balances,
its top-ups and the state of its latest voucher e-mail (``recipients.service``, as the API); an
owner ends every link to one's page made until now (``recipients.revocations``, as the API)."""

from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..operations import perform
from ..recipients import revocations, service
from ..recipients.schemas import RecipientData
from ..services import services
from .context import require_viewer
from .csrf import form
from .inputs import field
from .paths import path_for
from .render import page

__all__ = ["routes"]

_LIMIT = 50


async def recipients_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    after = request.query_params.get("after") or None
    if after is not None:
        after = service.address(after)
        if after is None:
            raise HTTPException(404)
    svc = services(request)
    listed = await perform(
        svc.waker, service.list_page(svc.db, viewer.caller, limit=_LIMIT, cursor=after)
    )
    rows = listed.many(RecipientData)
    more = bool(listed.meta and listed.meta["has_more"])
    revoked = request.query_params.get("revoked")
    return page(
        request,
        "recipients/index.html",
        {
            "rows": rows,
            "next_after": rows[-1].email if more else None,
            "revoked": service.address(revoked) if revoked else None,
        },
    )


async def revoke_links(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    email = service.address(field(data, "email", 300).strip())
    if email is None:
        raise HTTPException(404)
    svc = services(request)
    await perform(svc.waker, revocations.revoke(svc.db, viewer.caller, email))
    return RedirectResponse(
        path_for("recipients_page") + f"?revoked={quote(email)}", status_code=303
    )


routes: list[BaseRoute] = [
    Route("/recipients", recipients_page, methods=["GET"]),
    Route("/recipients/revoke-links", revoke_links, methods=["POST"]),
]
