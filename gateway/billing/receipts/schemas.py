"""Wire models of a merchant's billing profile: what a receipt is billed to, and what a PUT
of it must be."""

import re

import pycountry
from pydantic import ConfigDict, Field, field_validator

from ...values.model import Model

__all__ = ["BillingProfileData", "BillingProfileReply", "BillingProfileRequest"]


class BillingProfileData(Model):
    """A merchant's billing profile (legal name, address, country, tax id): on a receipt, as it
    was when the order was paid."""

    legal_name: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    postal_code: str | None
    country: str | None = Field(description="ISO 3166-1 alpha-2, upper case.")
    tax_id: str | None


class BillingProfileReply(BillingProfileData):
    """The merchant's billing profile now (every field null until one is saved): one per
    merchant, whichever environment's key reads it."""

    merchant_id: str
    updated_at: str | None


# Letters of any script, digits, spaces and the punctuation of addresses; no control characters.
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_TAX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-/]*")


def _text(value: str | None, *, required: bool) -> str | None:
    value = " ".join(value.split()) if value is not None else None
    if not value:
        if required:
            raise ValueError("must not be empty")
        return None
    if not _PRINTABLE.fullmatch(value):
        raise ValueError("must not contain control characters")
    return value


class BillingProfileRequest(Model):
    """The whole billing profile (PUT replaces it): every field bounded, text on one line;
    ``country`` an ISO 3166-1 alpha-2 code; empty optional fields are stored as none."""

    model_config = ConfigDict(extra="forbid")

    legal_name: str = Field(min_length=1, max_length=200)
    address_line1: str = Field(min_length=1, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. DE.")
    tax_id: str | None = Field(
        default=None, max_length=50, description="VAT or tax number: letters, digits, . - / space."
    )

    @field_validator("legal_name", "address_line1", "city")
    @classmethod
    def _required_text(cls, value: str) -> str:
        found = _text(value, required=True)
        assert found is not None
        return found

    @field_validator("address_line2", "postal_code")
    @classmethod
    def _optional_text(cls, value: str | None) -> str | None:
        return _text(value, required=False)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return iso_country(value)

    @field_validator("tax_id")
    @classmethod
    def _tax_id(cls, value: str | None) -> str | None:
        found = _text(value, required=False)
        if found is not None and not _TAX_ID.fullmatch(found):
            raise ValueError("letters, digits, spaces, '.', '-' and '/' only")
        return found


def iso_country(value: str) -> str:
    """``value`` as an ISO 3166-1 alpha-2 code (upper case), or refused."""
    code = value.strip().upper()
    if len(code) != 2 or not code.isascii() or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as DE or US")
    return code
