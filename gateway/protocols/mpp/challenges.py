"""MPP on a 402: the challenge a refusal for funds carries, and the credential a retry pays with.

The Payment HTTP authentication scheme (``draft-httpauth-payment-00``) with the Stripe method's
charge intent (``draft-stripe-charge-00``), through the ``mpp`` package's own types (pympp):
``Challenge.create`` binds a challenge's id to its parameters by HMAC-SHA256 under a key of the
gateway's (derived from ``AITOPUP_SECRET_KEY``, so nothing is stored per challenge), and
``Credential.from_authorization`` reads a retry's credential. The challenge advertises
``Payment-Authorization`` as its credential header, so the API key stays in ``Authorization``.

What binds a challenge (all under its HMAC): the realm (the public base URL's host), the method
and intent, the request (the amount in cents, ``usd``, the Stripe network profile and method
types), its expiry, the credential header, and ``opaque`` naming the merchant and environment it
was issued to and a nonce of its own: a credential presented by another merchant's key, or in
the other environment, is refused as ``invalid-challenge``, and two refusals in the same second
for the same shortfall carry two challenges, never one that two agents would both pay. Single
use is the store's (``protocols.orders``): the order a credential pays is keyed by the challenge
id, and only the first credential presented for it takes its money, so one challenge pays once
however often, and with however many tokens, it is sent.

Challenges are built on a refusal's path only: a send that goes through costs nothing more.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import rfc8785

# ``mpp`` names ``ParseError`` at its top level, without an ``__all__`` that lists it.
from mpp import (  # type: ignore[attr-defined]
    PAYMENT_AUTHORIZATION_HEADER,
    Challenge,
    Credential,
    ParseError,
    Receipt,
    generate_challenge_id,
)
from mpp.errors import (
    InvalidChallengeError,
    MalformedCredentialError,
    PaymentError,
    PaymentExpiredError,
    PaymentMethodUnsupportedError,
    PaymentRequiredError,
    VerificationFailedError,
)

from ...billing.channels.providers.stripe_checkout import STRIPE
from ...values import outside_json
from ...values.clock import rfc3339
from ...values.code_names import Code
from ...values.codes import CATALOGUE
from ...values.outcome import ApiError
from ...values.settings import Settings

__all__ = [
    "CREDENTIAL_HEADER",
    "INTENT",
    "METHOD",
    "PROBLEM_TYPES",
    "RECEIPT_HEADER",
    "Verified",
    "amount_for",
    "challenge",
    "challenge_key",
    "problem",
    "realm",
    "receipt",
    "verify",
]

METHOD = STRIPE  # MPP's method for Stripe is named as the channel is
INTENT = "charge"
CURRENCY = "usd"
CREDENTIAL_HEADER = PAYMENT_AUTHORIZATION_HEADER
RECEIPT_HEADER = "Payment-Receipt"
# Longer than any SPT Stripe mints; a credential is refused before it is looked at past it.
_SPT_MAX = 255

# The problem type (RFC 9457, ``https://paymentauth.org/problems/…``) of each refusal, as the
# ``mpp`` package names them.
_PROBLEMS: dict[Code, type[PaymentError]] = {
    Code.INSUFFICIENT_BALANCE: PaymentRequiredError,
    Code.PAYMENT_CREDENTIAL_MALFORMED: MalformedCredentialError,
    Code.PAYMENT_CHALLENGE_INVALID: InvalidChallengeError,
    Code.PAYMENT_CHALLENGE_TAKEN: InvalidChallengeError,
    Code.PAYMENT_CHALLENGE_EXPIRED: PaymentExpiredError,
    Code.PAYMENT_VERIFICATION_FAILED: VerificationFailedError,
    Code.PAYMENT_METHOD_UNSUPPORTED: PaymentMethodUnsupportedError,
}
PROBLEM_TYPES: dict[Code, str] = {code: kind.type for code, kind in _PROBLEMS.items()}


def challenge_key(settings: Settings) -> str:
    """The key challenge ids are bound under: derived from the gateway's secret, so a challenge
    needs no row and no other use of the secret can forge one."""
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"mpp-challenge-binding", hashlib.sha256).hexdigest()


def realm(settings: Settings) -> str:
    """The protection space: the public base URL's host, or the product's name without one."""
    host = urlsplit(settings.public_base_url or "").hostname
    return host or "aitopup"


def amount_for(settings: Settings, shortfall_cents: int) -> int | None:
    """What a challenge asks for a shortfall: rounded up to the funding step, at least the
    smallest top-up, as a custom-amount checkout would take it; ``None`` past the largest."""
    step = settings.funding_step_cents
    amount = max(-(-max(shortfall_cents, 1) // step) * step, settings.funding_min_cents)
    return amount if amount <= settings.funding_max_cents else None


def _method_types(settings: Settings) -> list[str]:
    return [t.strip() for t in settings.mpp_payment_method_types.split(",") if t.strip()]


def challenge(
    settings: Settings,
    *,
    merchant_id: str,
    env: str,
    amount_cents: int,
    now: datetime,
    header: str | None = CREDENTIAL_HEADER,
) -> Challenge:
    """A Stripe charge challenge for ``amount_cents``, bound to the merchant and environment.
    ``header``: the credential header it advertises (HTTP); None over MCP, whose credential
    travels in ``_meta`` and whose challenge object has no such field."""
    request: dict[str, Any] = {
        "amount": str(amount_cents),
        "currency": CURRENCY,
        "description": f"Wallet top-up ({env})",
        "methodDetails": {
            "networkId": settings.mpp_network_id,
            "paymentMethodTypes": _method_types(settings),
        },
    }
    return Challenge.create(
        secret_key=challenge_key(settings),
        realm=realm(settings),
        method=METHOD,
        intent=INTENT,
        request=request,
        expires=rfc3339(now + timedelta(seconds=settings.mpp_challenge_ttl_seconds)),
        # The nonce makes each refusal's challenge its own: without it two refused in the same
        # second for the same amount would share an id, and so one order.
        meta={"merchant": merchant_id, "env": env, "nonce": secrets.token_urlsafe(12)},
        header=header,
    )


@dataclass(frozen=True, slots=True)
class Verified:
    """A credential whose challenge this gateway issued to this merchant and environment,
    unexpired: what it pays and with what."""

    challenge_id: str
    amount_cents: int
    currency: str
    spt: str
    external_id: str | None
    expires_at: datetime


def _refused(code: Code) -> ApiError:
    return ApiError(code)


def _decoded(text: str | None) -> Any:
    if not text:
        return None
    padded = text + "=" * (-len(text) % 4)
    return outside_json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _issued_to(opaque: Any, merchant_id: str, env: str) -> bool:
    """Whether a challenge's ``opaque`` names this merchant and environment (and its nonce)."""
    return (
        isinstance(opaque, dict)
        and set(opaque) == {"merchant", "env", "nonce"}
        and (opaque["merchant"], opaque["env"]) == (merchant_id, env)
        and isinstance(opaque["nonce"], str)
    )


def verify(
    settings: Settings, header: str, *, merchant_id: str, env: str, now: datetime
) -> Verified:
    """The credential in ``header`` (``Payment <base64url>``), checked in the order the scheme
    asks: its challenge's binding (HMAC, in constant time), the merchant and environment it was
    issued to, its expiry, and only then the payment material. Refusals as ``ApiError`` with
    the product's codes (``PROBLEM_TYPES`` maps them to the problem types)."""
    try:
        credential = Credential.from_authorization(header)
        echo = credential.challenge
        request = _decoded(echo.request)
        opaque = _decoded(echo.opaque)
        if not isinstance(request, dict) or not (opaque is None or isinstance(opaque, dict)):
            raise _refused(Code.PAYMENT_CREDENTIAL_MALFORMED)
        expected = generate_challenge_id(
            secret_key=challenge_key(settings),
            realm=echo.realm,
            method=echo.method,
            intent=echo.intent,
            request=request,
            expires=echo.expires,
            digest=echo.digest,
            opaque=opaque,
            header=echo.header,
        )
    except (
        ParseError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        UnicodeError,
        binascii.Error,
        RecursionError,
        rfc8785.CanonicalizationError,
    ):
        # An outsider's bytes: whatever they make a parser raise, the answer is the envelope.
        raise _refused(Code.PAYMENT_CREDENTIAL_MALFORMED) from None
    if not hmac.compare_digest(echo.id.encode(), expected.encode()):
        raise _refused(Code.PAYMENT_CHALLENGE_INVALID)
    if (echo.method, echo.intent) != (METHOD, INTENT):
        raise _refused(Code.PAYMENT_METHOD_UNSUPPORTED)
    if echo.realm != realm(settings) or not _issued_to(opaque, merchant_id, env):
        raise _refused(Code.PAYMENT_CHALLENGE_INVALID)
    try:
        expires_at = datetime.fromisoformat(echo.expires or "")
    except ValueError:
        raise _refused(Code.PAYMENT_CHALLENGE_INVALID) from None
    if expires_at <= now:
        raise _refused(Code.PAYMENT_CHALLENGE_EXPIRED)
    amount = str(request.get("amount", ""))
    spt = credential.payload.get("spt")
    if not amount.isdigit() or request.get("currency") != CURRENCY:
        raise _refused(Code.PAYMENT_CHALLENGE_INVALID)
    if not isinstance(spt, str) or not spt.startswith("spt_") or len(spt) > _SPT_MAX:
        raise _refused(Code.PAYMENT_CREDENTIAL_MALFORMED)
    external = credential.payload.get("externalId")
    return Verified(
        challenge_id=echo.id,
        amount_cents=int(amount),
        currency=CURRENCY,
        spt=spt,
        external_id=external if isinstance(external, str) else None,
        expires_at=expires_at,
    )


def receipt(payment_id: str, now: datetime, external_id: str | None) -> Receipt:
    """The Stripe method's receipt, its reference the PaymentIntent (``Payment-Receipt``)."""
    return Receipt(
        status="success",
        timestamp=now,
        reference=payment_id,
        method=METHOD,
        external_id=external_id,
    )


def problem(code: Code, challenge_id: str | None, data: Any) -> dict[str, Any]:
    """The Problem Details body (RFC 9457) of a refusal, for a client that asks for
    ``application/problem+json``: the problem type, and the product's code and data beside."""
    kind = _PROBLEMS.get(code, PaymentRequiredError)
    body: dict[str, Any] = {
        "type": kind.type,
        "title": kind.title,
        "status": CATALOGUE[code].http_status,
        "detail": CATALOGUE[code].message,
        "code": int(code),
    }
    if challenge_id is not None:
        body["challengeId"] = challenge_id
    if data is not None:
        body["data"] = data
    return body
