"""What the wallet and webhook pages read from a request, and how a refusal reads on a form.

A service's refusal (``ApiError``) or a request model's (pydantic's ``ValidationError``) becomes
a status and one sentence shown beside the form, which keeps what was typed. Nothing here
decides a rule: the services and their models do.
"""

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData
from starlette.requests import Request

from ..codes import CATALOGUE
from ..outcome import ApiError

__all__ = ["field", "page_number", "problem"]

_MAX_PAGE = 1_000_000


def field(data: FormData, name: str, limit: int = 2048) -> str:
    """A text field of the form, cut at ``limit`` characters; absent (or a file) is empty. The
    cut is never what is stored: the request model refuses what is too long anyway."""
    value = data.get(name)
    return value[: limit + 1] if isinstance(value, str) else ""


def page_number(request: Request, name: str) -> int:
    """A 1-based page number from the query; anything else is page 1."""
    raw = request.query_params.get(name, "")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= _MAX_PAGE else 1


def _sentence(error: ErrorDetails) -> str:
    where = ".".join(part for part in error["loc"] if isinstance(part, str))
    return f"{where}: {error['msg']}" if where else error["msg"]


def problem(exc: ApiError | ValidationError) -> tuple[int, str]:
    """The HTTP status and the sentence a form shows for this refusal."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_input=False)
        return 422, "; ".join(_sentence(e) for e in errors[:3])
    return CATALOGUE[exc.code].http_status, exc.message
