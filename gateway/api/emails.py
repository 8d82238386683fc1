"""Routes of the staging mailbox: the mail staging sends wrote, never sent."""

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..mail import mailbox
from ..mail.schemas import MAIL_ID, EmailData
from ..ops.routing import CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..topup.schemas import ListQuery
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import check_cursor, read_query
from ..values.public_base import public_base
from .answer import answer

__all__ = ["routes"]


async def list_emails(request: Request) -> Response:
    caller = require_caller(request, "topup:read")
    mailbox.require_staging(caller.env)
    svc = services(request)
    query = read_query(request, ListQuery)
    check_cursor(query.cursor, MAIL_ID)
    operation = mailbox.list_page(
        svc.db,
        svc.sealer,
        caller,
        limit=query.limit,
        cursor=query.cursor,
        base_url=public_base(svc.settings),
        link_ttl_seconds=svc.settings.recipient_link_ttl_seconds,
        catalogues=svc.languages,
    )
    return await answer(request, operation)


async def get_email(request: Request) -> Response:
    caller = require_caller(request, "topup:read")
    mailbox.require_staging(caller.env)
    svc = services(request)
    mail_id: str = request.path_params["mail_id"]
    if not MAIL_ID.fullmatch(mail_id):
        raise ApiError(Code.EMAIL_NOT_FOUND)
    operation = mailbox.get(
        svc.db,
        svc.sealer,
        caller,
        mail_id,
        base_url=public_base(svc.settings),
        link_ttl_seconds=svc.settings.recipient_link_ttl_seconds,
        catalogues=svc.languages,
    )
    return await answer(request, operation)


routes = [
    ApiRoute(
        "/emails",
        list_emails,
        methods=["GET"],
        doc=RouteDoc(
            "The staging mailbox: mail staging sends wrote, newest first (staging keys only)",
            "emails",
            query=ListQuery,
            response=EmailData,
            many=True,
            errors=(*KEY_ERRORS, *CURSOR_ERRORS, Code.MAILBOX_STAGING_ONLY),
            secret=True,
        ),
    ),
    ApiRoute(
        "/emails/{mail_id}",
        get_email,
        methods=["GET"],
        doc=RouteDoc(
            "One mail of the staging mailbox (staging keys only)",
            "emails",
            response=EmailData,
            errors=(*KEY_ERRORS, Code.MAILBOX_STAGING_ONLY, Code.EMAIL_NOT_FOUND),
            secret=True,
        ),
    ),
]
