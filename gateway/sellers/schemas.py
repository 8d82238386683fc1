"""Wire models of a payment to a seller: what ``POST /payments`` (MCP's ``pay_challenge``) takes,
what a payment reads as, and the reply that made it, the one place its credential is shown."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from ..policies.payees import canonical, origin_of
from ..values.model import Model
from ..values.text import Line

__all__ = [
    "BINDING_ID",
    "MAX_CHALLENGE_BYTES",
    "MAX_ORIGIN",
    "PAY_ID",
    "BindingCreate",
    "BindingData",
    "FetchCreate",
    "FetchData",
    "PaymentCreate",
    "PaymentData",
    "PaymentMade",
    "SellerResponse",
]

PAY_ID = re.compile(r"pay_[0-9a-z]{24}")
BINDING_ID = re.compile(r"pb_[0-9a-z]{24}")
MAX_URL = 2048
MAX_CHALLENGE_BYTES = 8 * 1024


# As wide as the column that keeps a payment's origin (``seller_payments.payee_origin``).
MAX_ORIGIN = 300


def _resource(value: str) -> str:
    # An absolute http(s) URL with a host, or ValueError; its origin kept whole.
    if len(origin_of(value)) > MAX_ORIGIN:
        raise ValueError(
            f"a URL's origin (scheme, host and port) is at most {MAX_ORIGIN} characters"
        )
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
        "at most 2048 characters, kept as a label: the key's allowed_payees and "
        "per_payee_limit judge where the money goes (the challenge's destination), and an "
        "origin they name admits only the destinations a person bound to it."
    )
    challenge: Challenge = Field(
        description="What the seller's 402 asked to be paid, as it sent it: the value of its "
        "`WWW-Authenticate: Payment …` header, or of its `PAYMENT-REQUIRED` header; at most "
        "8 KiB."
    )
    description: Line | None = Field(
        default=None, max_length=500, description="What the payment is for, kept with it."
    )
    buy_again: bool = Field(
        default=False,
        description="An x402 offer this merchant paid already, still unexpired, is bought again "
        "(a second purchase of the same resource). Without it the payment is refused, 409 "
        "`4649`, with the first payment's id and status. An MPP challenge carries an id and is "
        "paid once whatever this says.",
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
    destination: str = Field(
        description="Where the money goes, as every payee rule of the key's policy judges it: "
        "`x402:<network>:<asset>:<payTo>` or `mpp:<the seller's profile>`. The url is a label."
    )
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
    approvers_asked: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="In the reply that held it (202 1173, not its replays): how "
        "many people were asked to decide it, by mail and Telegram (at most 20). 0: the "
        "merchant has nobody who may decide it (a merchant made from the command line, until "
        "one is invited), so no mail tells anyone; decide it with a key holding the approvals "
        "scope, or on the dashboard.",
    )
    created_at: str
    updated_at: str


class PaymentMade(PaymentData):
    """The reply that authorized a payment (and its idempotent replays): with its credential."""

    value: str = Field(
        description="The credential: send it as the value of `header` on the retry of the "
        "seller's request. Shown here only."
    )


def _origin(value: str) -> str:
    found = canonical(value)
    if "://" not in found:
        raise ValueError("an origin is scheme://host[:port]")
    return found


def _destination(value: str) -> str:
    found = canonical(value)
    if "://" in found:
        raise ValueError("a destination is where a payment's money goes, not a url")
    return found


class BindingCreate(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    origin: Annotated[Line, Field(min_length=1, max_length=300), AfterValidator(_origin)] = Field(
        description="The origin an agent names (`https://seller.example`), as `allowed_payees` "
        "names it."
    )
    destination: Annotated[Line, Field(min_length=1), AfterValidator(_destination)] = Field(
        description="Where its payments' money may go: a payment's `destination` "
        "(`x402:<network>:<asset>:<payTo>`, `mpp:<the seller's profile>`)."
    )


class BindingData(Model):
    """A destination bound to an origin: an origin in ``allowed_payees`` admits it."""

    id: str = Field(description="pb_…")
    origin: str
    destination: str
    bound_by: str = Field(description="Who bound it: the key's id, or user:<id> for a person.")
    created_at: str = Field(description="RFC 3339 UTC")


# What a paying fetch sends of the agent's own: its headers as given, within these bounds, but
# never one the gateway writes itself (the framing, the host, the coding it reads answers in).
MAX_FETCH_HEADERS = 32
MAX_FETCH_HEADER_BYTES = 16 * 1024  # names and values together
MAX_FETCH_BODY_BYTES = 32 * 1024
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
GATEWAYS_OWN = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
        "accept-encoding",
    }
)


def _headers(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_FETCH_HEADERS:
        raise ValueError(f"at most {MAX_FETCH_HEADERS} headers")
    seen: set[str] = set()
    size = 0
    for name, said in value.items():
        lower = name.lower()
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"{name!r} is not a header name")
        if lower in GATEWAYS_OWN:
            raise ValueError(f"{name} is written by the gateway itself")
        if lower in seen:
            raise ValueError(f"{name} is named twice")
        if not said.replace("\t", " ").isprintable():
            raise ValueError(f"{name}'s value is not one line of text")
        seen.add(lower)
        size += len(name) + len(said.encode())
    if size > MAX_FETCH_HEADER_BYTES:
        raise ValueError(f"the headers are at most {MAX_FETCH_HEADER_BYTES} bytes together")
    return value


def _body(value: str) -> str:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_FETCH_BODY_BYTES:
        raise ValueError(f"a body is at most {MAX_FETCH_BODY_BYTES} bytes")
    return value


class FetchCreate(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: Resource = Field(
        description="The seller's resource, requested by the gateway itself: an absolute https "
        "(or http) URL on the public internet, at most 2048 characters. Its origin is the "
        "payee's: a destination met there counts as bound to it."
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="GET", description="The request's method."
    )
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(
        default_factory=dict,
        description="The request's headers, sent as given: at most 32, 16 KiB together; never "
        "Host, Content-Length, Accept-Encoding or a hop-by-hop header (the gateway writes "
        "those), and the credential's header is the gateway's on the paid retry.",
    )
    body: Annotated[str, AfterValidator(_body)] | None = Field(
        default=None, description="The request's body, sent as is (UTF-8): at most 32 KiB."
    )
    description: Line | None = Field(
        default=None, max_length=500, description="What a payment is for, kept with it."
    )
    buy_again: bool = Field(
        default=False, description="As `POST /payments` takes it: an x402 offer bought again."
    )


class SellerResponse(Model):
    """What the seller answered the gateway's request (the paid retry, when it paid)."""

    status: int = Field(description="Its HTTP status; a redirect is answered, never followed.")
    headers: dict[str, str] = Field(
        description="Its headers, names in lower case, a name sent twice joined by `, `; "
        "without the framing ones."
    )
    body: str = Field(description="Its body: text when it is UTF-8, else base64 (`encoding`).")
    encoding: Literal["utf-8", "base64"]
    truncated: bool = Field(description="Whether the body went past 1 MiB and was cut there.")


class FetchData(Model):
    """A paying fetch's answer: the payment it made (as `GET /payments/{id}` reads it, never
    its credential; null when the seller asked for none) and the seller's response."""

    payment: PaymentData | None
    response: SellerResponse
