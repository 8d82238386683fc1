"""How the dashboard answers what went wrong: pages, never the API's JSON envelope.

One handler a kind, installed on the dashboard's own router (``gateway.dashboard.app``): a
signed-out visitor is sent to sign in (303), a bad CSRF token is a 403 page, a service's
``ApiError`` is its HTTP status with the catalogue's message, an unknown path a 404 page.
"""

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..values.codes import CATALOGUE
from ..values.outcome import ApiError
from .context import SignInRequired, sign_in_url
from .csrf import CsrfRefused, FormRefused
from .render import page

__all__ = ["HANDLERS", "error_page"]

_HEADINGS = {
    400: "That request could not be read",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "That changed meanwhile",
    413: "Too large",
    415: "Unsupported form",
    422: "Please check the input",
    429: "Too many attempts",
}


def error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    response = page(
        request,
        "error.html",
        {"heading": _HEADINGS.get(status, "Something went wrong"), "message": message},
        status=status,
    )
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
        "This form has expired or did not come from this dashboard; nothing was changed. "
        "Reload the page and try again.",
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
    message = "There is no such page here." if exc.status_code == 404 else str(exc.detail)
    return error_page(request, exc.status_code, message, dict(exc.headers or {}))


HANDLERS = {
    SignInRequired: _sign_in,
    CsrfRefused: _csrf,
    FormRefused: _form,
    ApiError: _api_error,
    HTTPException: _http,
}
