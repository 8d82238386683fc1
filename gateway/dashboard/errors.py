"""How the dashboard answers what went wrong: pages, never the API's JSON envelope.

One handler a kind, installed on the dashboard's own router (``gateway.dashboard.app``): a
signed-out visitor is sent to sign in (303), a bad CSRF token is a 403 page, a service's
``ApiError`` is its HTTP status with the catalogue's message, an unknown path a 404 page.
"""

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..values.codes import CATALOGUE
from ..values.marking import marked
from ..values.outcome import ApiError
from .context import SignInRequired, sign_in_url
from .csrf import CsrfRefused, FormRefused
from .render import page, reading

__all__ = ["HANDLERS", "error_page"]

_HEADINGS = {
    400: marked("That request could not be read"),
    403: marked("Not allowed"),
    404: marked("Not found"),
    405: marked("Not allowed"),
    409: marked("That changed meanwhile"),
    413: marked("Too large"),
    415: marked("Unsupported form"),
    422: marked("Please check the input"),
    429: marked("Too many attempts"),
}
_SOMETHING = marked("Something went wrong")


def error_page(
    request: Request,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    values: Mapping[str, object] | None = None,
) -> Response:
    """The error page in the reader's language: ``message`` (marked English, its placeholders
    filled from ``values``) and the status's heading are translated here, in Python, so a
    message that is not in the catalogue (the API's own, shown as it is) is never read as a
    format."""
    read_in = reading(request)
    said = read_in.gettext(message)
    if values:
        said = said % dict(values)
    heading = read_in.gettext(_HEADINGS.get(status, _SOMETHING))
    response = page(request, "error.html", {"heading": heading, "message": said}, status=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    next_path = exc.next_path if request.method == "GET" else None
    return RedirectResponse(sign_in_url(next_path), status_code=303)


async def _csrf(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        403,
        marked(
            "This form has expired or did not come from this dashboard; nothing was changed. "
            "Reload the page and try again."
        ),
    )


async def _form(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormRefused)
    return error_page(request, exc.status, exc.message)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    status = CATALOGUE[exc.code].http_status
    return error_page(request, status, exc.message, exc.headers)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = marked("There is no such page here.") if exc.status_code == 404 else str(exc.detail)
    return error_page(request, exc.status_code, message, dict(exc.headers or {}))


HANDLERS = {
    SignInRequired: _sign_in,
    CsrfRefused: _csrf,
    FormRefused: _form,
    ApiError: _api_error,
    HTTPException: _http,
}
