"""The account forms' fields as every account operation reads them: an address in its one
canonical form (``addresses.normalize``: NFKC, case-folded, validated), a new password by the
one rule (``passwords.problem``), and the refusal that names the field (``AccountError``)."""

from pydantic_core import PydanticCustomError

from ..values.addresses import normalize
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError
from .passwords import problem

__all__ = ["AccountError", "canonical_email", "check_new_password"]


class AccountError(ApiError):
    """Input the account cannot be made or changed with; ``field`` names the form field and
    ``sentence`` says what to change. An ``ApiError`` like every refusal: ``MERCHANT_NOT_FOUND``
    for an unknown merchant, else ``VALIDATION_FAILED`` with the field in ``data.errors``, as
    a request model's refusal reads."""

    def __init__(self, field: str, sentence: str) -> None:
        if field == "merchant":
            super().__init__(Code.MERCHANT_NOT_FOUND)
        else:
            error = {"loc": [field], "type": "value_error", "msg": sentence}
            super().__init__(Code.VALIDATION_FAILED, data={"errors": [error]})
        self.field = field
        self.sentence = sentence

    def __str__(self) -> str:
        return self.sentence


def canonical_email(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 254:
        raise AccountError("email", marked("Enter your e-mail address (at most 254 characters)."))
    try:
        return normalize(value)
    except (PydanticCustomError, ValueError):
        raise AccountError("email", marked("That is not a valid e-mail address.")) from None


def check_new_password(password: str) -> None:
    """A new password follows ``passwords.problem``, the one rule."""
    found = problem(password)
    if found is not None:
        raise AccountError("password", found)
