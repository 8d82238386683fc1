"""Recipient e-mail addresses: one canonical form per mailbox, answered at once for plain ones.

The canonical form is the address Unicode-normalised (NFKC) and case-folded, as Unicode's
compatibility caseless match defines them, then judged and normalised by email-validator (as
pydantic's ``EmailStr``: syntax only, no DNS). So ``Ann@Example.com``, ``ANN@example.com`` and
its full-width spelling (U+FF41…) are one recipient, one wallet, one policy entry. Only a bare
address is taken: the display-name form (``"Ann" <ann@example.com>``), which ``EmailStr`` would
quietly reduce to its address, is refused, so a request has one meaning.

email-validator's full check is a measurable part of a send (docs/performance.md, "Figures
behind the code's choices"). Nearly every recipient is a plain ASCII address, and
for those the answer is known from their shape: NFKC leaves ASCII as it is and case folding is
lower-casing, so such an address is lower-cased here, as the full path would give it. Anything
else, or anything the shape cannot settle (special-use domains, lengths, Punycode), takes the
full path, whose verdict and error message stand. A test holds the two to the same answers.
"""

import re
import unicodedata
from typing import Annotated

import email_validator
from pydantic import AfterValidator, Field
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

__all__ = ["RecipientEmail", "canonical", "normalize"]

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


def _folded(text: str) -> str:
    """Unicode's compatibility caseless form (D145: NFKD of the case fold of NFKD of the case
    fold of NFD), composed as NFKC; applied again it changes nothing."""
    once = unicodedata.normalize("NFKD", unicodedata.normalize("NFD", text).casefold())
    return unicodedata.normalize("NFKC", once.casefold())


def _refused(reason: str) -> PydanticCustomError:
    return PydanticCustomError(
        "value_error", "value is not a valid email address: {reason}", {"reason": reason}
    )


def canonical(value: str) -> str:
    """The full path: the canonical form of ``value``, or its ``PydanticCustomError``."""
    folded = _folded(value)
    # Angle brackets have no place in a bare address (quoted local parts are refused anyway).
    if "<" in folded or ">" in folded:
        raise _refused("give the bare address, without a display name or angle brackets")
    # email-validator writes an internationalised domain in Unicode: fold its answer too.
    return _folded(validate_email(folded)[1])


def normalize(value: str) -> str:
    """The canonical form of ``value`` (``canonical``), at once for a plain ASCII address."""
    match = _PLAIN.fullmatch(value)
    if match is not None:
        local, domain = match.group(1), match.group(2).lower()
        if (
            len(value) <= _ADDRESS_MAX
            and len(local) <= _LOCAL_MAX
            and len(domain) <= _DOMAIN_MAX
            and "--" not in domain  # Punycode and the labels RFC 5890 reserves
            and not _special_use(domain)
        ):
            return value.lower()
    return canonical(value)


RecipientEmail = Annotated[
    str, AfterValidator(normalize), Field(json_schema_extra={"format": "email"})
]
