"""Mail: the merchant's e-mails in the switch's environment. Staging's are shown whole (the
staging mailbox: they never leave the gateway), the HTML version beside the text; live ones by
state (queued, sent, failed with the last error). The switch for the voucher e-mail to
recipients is here too.

The HTML version is a page of its own (``HTML_PREFIX``), which the mail's page links to, opened
in a tab: it is ours but carries names a merchant gave, so its policy sandboxes it, and it runs
nothing, loads nothing, and nobody may frame it (``security_headers.DIRECTIVES_BY_PREFIX``); its
links open a tab of their own, as a mail client opens them. It is not framed on the mail's page:
a frame that runs no script cannot report its height, and no height computed here holds for
every reader's width and fonts, so a frame cut long mails short; the text version is shown
there whole."""

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..approvals import links
from ..holds import registry
from ..mail import mailbox
from ..mail.mailbox import MailState
from ..mail.schemas import EmailData
from ..merchants import preferences
from ..operations import perform
from ..services import services
from ..values.public_base import public_base
from .context import require_viewer
from .csrf import form
from .paths import path_for
from .render import page

__all__ = ["HTML_PREFIX", "routes"]

_MAIL_ID = re.compile(r"mail_[0-9a-z]{24}")
_LIMIT = 50
# Below ``/dashboard``: the one path of the site whose pages a frame of the dashboard shows.
HTML_PREFIX = "/mail-html"
# Only a target: ``base-uri 'none'`` holds for an address, and no link's address changes.
_NEW_TABS = '<base target="_blank">'


async def mail_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    before = request.query_params.get("before") or None
    if before is not None and not _MAIL_ID.fullmatch(before):
        raise HTTPException(404)
    listed = await perform(
        svc.waker, mailbox.states(svc.db, svc.sealer, viewer.caller, limit=_LIMIT, before=before)
    )
    mails, more = listed.many(MailState), bool(listed.meta and listed.meta["has_more"])
    notices = preferences.recipient_notices(svc.db, viewer.merchant_id)
    on = (await perform(svc.waker, notices)).one(bool)
    # What is held now with no approval mail among these: nobody of the merchant's could decide it.
    unmailed = links.nobody_asked(svc.db, registry.holds(), viewer.merchant_id, viewer.env)
    return page(
        request,
        "mail/index.html",
        {
            "mails": mails,
            "notify": on,
            "next_before": mails[-1].id if more else None,
            "nobody_asked": (await perform(svc.waker, unmailed)).one(int),
        },
    )


async def _staged(request: Request) -> EmailData:
    """The staging mail in the path, whole; any other is not found."""
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
        catalogues=svc.languages,
    )
    return (await perform(svc.waker, read)).one(EmailData)


async def show_mail(request: Request) -> Response:
    found = await _staged(request)
    return page(request, "mail/detail.html", {"mail": found}, no_store=True)


async def mail_html(request: Request) -> Response:
    """The mail's HTML version alone, a page of its own."""
    found = await _staged(request)
    if found.html is None:
        raise HTTPException(404)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(_in_new_tabs(found.html), headers=headers)


def _in_new_tabs(html: str) -> str:
    """``html`` with its links opening a tab of their own, as a mail client opens them: the
    mailbox stays open where it was. Ours always has a head."""
    head = re.search(r"<head[^>]*>", html)
    at = head.end() if head else 0
    return html[:at] + _NEW_TABS + html[at:]


async def set_notify(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    svc = services(request)
    on = data.get("notify") == "on"
    await perform(svc.waker, preferences.set_recipient_notices(svc.db, viewer.merchant_id, on))
    return RedirectResponse(path_for("mail_page"), status_code=303)


routes: list[BaseRoute] = [
    Route("/mail", mail_page, methods=["GET"]),
    Route("/mail/settings", set_notify, methods=["POST"]),
    Route("/mail/{mail_id}", show_mail, methods=["GET"]),
    Route(HTML_PREFIX + "/{mail_id}", mail_html, methods=["GET"]),
]
