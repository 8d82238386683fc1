"""Recipient e-mail addresses: pydantic's ``EmailStr`` rules, answered at once for plain ones.

``EmailStr`` runs email-validator on every address, which handles quoting, Unicode and IDNA and
costs about 50 µs a send. Nearly every recipient is a plain ASCII address, and for those the
answer is known from their shape: such an address is accepted here as email-validator would
accept it and normalised as it would (the domain lowercased). Anything else, or anything the
shape cannot settle (special-use domains, lengths, Punycode, the RFC 2142 mailbox names it
lowercases), goes to email-validator, whose verdict and error message stand. A test checks the
shortcut against email-validator.
"""

import re
from typing import Annotated

import email_validator
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from pydantic import AfterValidator, Field
from pydantic.networks import validate_email

__all__ = ["RecipientEmail", "normalize"]

# Dot-atoms of letters, digits, "_", "+" and "-"; host labels of letters, digits and inner
# hyphens; a top-level domain of letters only.
_PLAIN = re.compile(
    r"([A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_LOCAL_MAX = 64
_DOMAIN_MAX = 253
_ADDRESS_MAX = 254


def _special_use(domain: str) -> bool:
    return any(
        domain == name or domain.endswith("." + name)
        for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    )


def normalize(value: str) -> str:
    """The address as ``EmailStr`` would give it, or its ``PydanticCustomError``."""
    match = _PLAIN.fullmatch(value)
    if match is not None:
        local, domain = match.group(1), match.group(2).lower()
        if (
            len(value) <= _ADDRESS_MAX
            and len(local) <= _LOCAL_MAX
            and len(domain) <= _DOMAIN_MAX
            and "--" not in domain  # Punycode and the labels RFC 5890 reserves
            and not _special_use(domain)
            and local.lower() not in CASE_INSENSITIVE_MAILBOX_NAMES  # lowercased (RFC 2142)
        ):
            return f"{local}@{domain}"
    return validate_email(value)[1]


RecipientEmail = Annotated[
    str, AfterValidator(normalize), Field(json_schema_extra={"format": "email"})
]
