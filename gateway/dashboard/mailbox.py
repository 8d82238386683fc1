"""Mail: the merchant's e-mails in the switch's environment. Staging's are shown whole (the
staging mailbox: they never leave the gateway); live ones by state (queued, sent, failed with
the last error). The switch for the voucher e-mail to recipients is here too."""

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..mail import mailbox
from ..mail.links import public_base
from ..mail.mailbox import MailState
from ..mail.schemas import EmailData
from ..merchants import preferences
from ..operations import perform
from ..services import services
from .context import require_viewer
from .csrf import form
from .render import page

__all__ = ["routes"]

_MAIL_ID = re.compile(r"mail_[0-9a-z]{24}")
_LIMIT = 50


async def mail_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    before = request.query_params.get("before") or None
    if before is not None and not _MAIL_ID.fullmatch(before):
        raise HTTPException(404)
    listed = await perform(
        svc.enqueuer, mailbox.states(svc.db, svc.sealer, viewer.caller, limit=_LIMIT, before=before)
    )
    mails, more = listed.many(MailState), bool(listed.meta and listed.meta["has_more"])
    notices = preferences.recipient_notices(svc.db, viewer.merchant_id)
    on = (await perform(svc.enqueuer, notices)).one(bool)
    return page(
        request,
        "mail/index.html",
        {"mails": mails, "notify": on, "next_before": mails[-1].id if more else None},
    )


async def show_mail(request: Request) -> Response:
    viewer = await require_viewer(request)
    mail_id: str = request.path_params["mail_id"]
    if viewer.env != "staging" or not _MAIL_ID.fullmatch(mail_id):
        raise HTTPException(404)
    svc = services(request)
    read = mailbox.get(
        svc.db,
        svc.sealer,
        viewer.caller,
        mail_id,
        base_url=public_base(svc.settings),
        link_ttl_seconds=svc.settings.recipient_link_ttl_seconds,
    )
    found = (await perform(svc.enqueuer, read)).one(EmailData)
    return page(request, "mail/detail.html", {"mail": found}, no_store=True)


async def set_notify(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    svc = services(request)
    on = data.get("notify") == "on"
    await perform(svc.enqueuer, preferences.set_recipient_notices(svc.db, viewer.merchant_id, on))
    return RedirectResponse("/dashboard/mail", status_code=303)


routes: list[BaseRoute] = [
    Route("/mail", mail_page, methods=["GET"]),
    Route("/mail/settings", set_notify, methods=["POST"]),
    Route("/mail/{mail_id}", show_mail, methods=["GET"]),
]
