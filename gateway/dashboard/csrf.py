"""Forms, read once and checked: every state-changing form of the dashboard posts
``csrf_token``, compared in constant time with the session's own (or, before sign-in, the one
bound to the visitor's cookie). A missing or wrong token is ``CsrfRefused``, a 403 page, and the
handler that asked has changed nothing yet.

Only ``application/x-www-form-urlencoded`` is read (every dashboard form is one), at most
``MAX_FORM_BYTES``: no multipart parser, no file upload, no unbounded body; a form with a NUL in
any field is refused whole (``values.text``), before any handler reads it.
"""

import hmac
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from ..values.outcome import ApiError
from ..values.parsing import read_capped
from ..values.text import NUL
from .context import visit

__all__ = ["MAX_FORM_BYTES", "CsrfRefused", "FormRefused", "form"]

MAX_FORM_BYTES = 64 * 1024
_MAX_FIELDS = 200


class CsrfRefused(Exception):
    """The form's CSRF token is missing or wrong: 403."""


class FormRefused(Exception):
    """The body is not a form this dashboard reads (type or size): ``status`` says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _body(request: Request) -> bytes:
    """Read under the one size rule every door's body is read by."""
    try:
        return await read_capped(request, MAX_FORM_BYTES)
    except ApiError:
        raise FormRefused(413, "The form is too large.") from None


async def form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token is the session's; else ``CsrfRefused``."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormRefused(415, "Send the form as application/x-www-form-urlencoded.")
    try:
        text = (await _body(request)).decode()
        fields = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "The form could not be read.") from None
    if any(NUL in name or NUL in value for name, value in fields):
        raise FormRefused(400, "The form contains a NUL character.")
    data = FormData(list[tuple[str, str | UploadFile]](fields))
    presented = data.get("csrf_token")
    expected = (await visit(request)).csrf_token
    if not isinstance(presented, str) or not hmac.compare_digest(
        presented.encode(), expected.encode()
    ):
        raise CsrfRefused()
    return data
