"""Wire models of a payment to a seller: what ``POST /payments`` (MCP's ``pay_challenge``) takes,
what a payment reads as, and the reply that made it, the one place its credential is shown."""

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from ...policies.payees import origin_of
from ...values.model import Model
from ...values.text import Line

__all__ = ["MAX_CHALLENGE_BYTES", "PAY_ID", "PaymentCreate", "PaymentData", "PaymentMade"]

PAY_ID = re.compile(r"pay_[0-9a-z]{24}")
MAX_URL = 2048
MAX_CHALLENGE_BYTES = 8 * 1024


def _resource(value: str) -> str:
    origin_of(value)  # an absolute http(s) URL with a host, or ValueError
    return value


def _challenge(value: str) -> str:
    if len(value.encode()) > MAX_CHALLENGE_BYTES:
        raise ValueError(f"a challenge is at most {MAX_CHALLENGE_BYTES} bytes")
    return value


Resource = Annotated[Line, Field(min_length=1, max_length=MAX_URL), AfterValidator(_resource)]
Challenge = Annotated[
    Line, Field(min_length=1, max_length=MAX_CHALLENGE_BYTES), AfterValidator(_challenge)
]


class PaymentCreate(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: Resource = Field(
        description="The seller's resource that answered 402: an absolute https (or http) URL, "
        "at most 2048 characters. Its origin is the payee the key's allowed_payees and "
        "per_payee_limit judge."
    )
    challenge: Challenge = Field(
        description="What the seller's 402 asked to be paid, as it sent it: the value of its "
        "`WWW-Authenticate: Payment …` header, or of its `PAYMENT-REQUIRED` header; at most "
        "8 KiB."
    )
    description: Line | None = Field(
        default=None, max_length=500, description="What the payment is for, kept with it."
    )


class PaymentData(Model):
    """A payment as every read shows it: never its credential."""

    id: str = Field(description="pay_…")
    status: str = Field(
        description="pending_approval (held: nothing made until approved), pending, "
        "authorized, used, released, failed, denied or expired"
    )
    amount_cents: int = Field(
        description="What the seller asked: debited from the wallet when funded_by is wallet."
    )
    used_cents: int | None = Field(description="What the seller took, once used.")
    currency: str = Field(description="usd")
    payee: str = Field(description="Whom it pays, as its protocol names the payee.")
    protocol: str = Field(description="The payment protocol of the seller's challenge.")
    url: str
    header: str = Field(description="The request header the seller reads the credential from.")
    description: str | None
    failure_reason: str | None = Field(description="Why no credential was made (failed).")
    expires_at: str = Field(
        description="RFC 3339 UTC: the seller's challenge stops here; an "
        "unused credential is released to the wallet after it."
    )
    approval_expires_at: str | None = Field(
        default=None,
        description="RFC 3339 UTC: a payment held for approval (a rule of the key's policy "
        "held it) is released as expired here unless decided first; null if never held.",
    )
    funded_by: str = Field(
        default="wallet",
        description="Which instrument paid the seller: wallet (the operator's treasury paid, "
        "the wallet was debited) or own (the merchant's saved card or payer key paid, the "
        "wallet was not debited). The key's limits count it either way.",
    )
    created_at: str
    updated_at: str


class PaymentMade(PaymentData):
    """The reply that authorized a payment (and its idempotent replays): with its credential."""

    value: str = Field(
        description="The credential: send it as the value of `header` on the retry of the "
        "seller's request. Shown here only."
    )
