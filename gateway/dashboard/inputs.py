"""What the wallet and webhook pages read from a request, and how a refusal reads on a form.

A service's refusal (``ApiError``) or a request model's (pydantic's ``ValidationError``) becomes
a status and a sentence shown beside the form, which keeps what was typed. ``FormErrors``
gathers every refusal of a form by field, so one post shows them all. Nothing here decides a
rule: the services and their models do.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData
from starlette.requests import Request

from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.marking import marked
from ..values.outcome import ApiError

__all__ = [
    "ENTER_DOLLARS",
    "FORM",
    "FormErrors",
    "dollars_to_cents",
    "field",
    "listed",
    "page_number",
    "problem",
]

# The key of a refusal that belongs to the whole form rather than one field.
FORM = ""

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


@dataclass
class FormErrors:
    """Every refusal of one form: a message per form field (``FORM`` for the form as a whole,
    first one kept per field), the HTTP status and headers of the first refusal."""

    errors: dict[str, str] = dataclass_field(default_factory=dict)
    status: int = 422
    headers: dict[str, str] = dataclass_field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def add(
        self,
        exc: ApiError | ValidationError,
        where: str = FORM,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        """``exc`` under ``where``; a model's errors each under the form field ``fields`` maps
        its model field to (``FORM`` for one it does not map, or a whole-model rule)."""
        status, message = problem(exc)
        if not self.errors:
            self.status = status
            if isinstance(exc, ApiError) and exc.headers:
                self.headers.update(exc.headers)
        if isinstance(exc, ApiError):
            self.errors.setdefault(where, message)
            return
        for error in exc.errors(include_url=False, include_input=False):
            model_field = str(error["loc"][0]) if error["loc"] else ""
            self.errors.setdefault((fields or {}).get(model_field, FORM), error["msg"])


# Said in the reader's words where the form shows it (``said``).
ENTER_DOLLARS = marked("Enter an amount in dollars, like 25.00.")


def listed(typed: str, most: int = 20) -> list[str]:
    """What was typed as a list (``50, 80 95``): its items, split on commas and spaces, at most
    ``most`` of them read (a longer list is refused by its model all the same)."""
    return [item for item in typed.replace(",", " ").split() if item][:most]


def dollars_to_cents(typed: str) -> int:
    """Dollars as typed (``25`` or ``25.50``) in cents; anything else is refused."""
    try:
        amount = Decimal(typed)
    except InvalidOperation:
        raise ApiError(Code.VALIDATION_FAILED, ENTER_DOLLARS) from None
    cents = amount * 100
    if not amount.is_finite() or cents != cents.to_integral_value() or not 0 < cents < 10**9:
        raise ApiError(Code.VALIDATION_FAILED, ENTER_DOLLARS)
    return int(cents)
