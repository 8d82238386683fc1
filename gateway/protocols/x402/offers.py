"""x402 v2 on a 402 (``specs/transports-v2/http.md``): the ``PAYMENT-REQUIRED`` offer a refusal
for funds carries where the operator enabled it, and the ``PAYMENT-SIGNATURE`` a retry pays
with, through the ``x402`` package's own models and header codecs.

The offer is one ``exact`` requirement on the environment's ``Terms`` (live: the settings'
network, asset, ``payTo`` and facilitator; staging: its own facilitator and ``payTo``, always on
a test network, so staging never offers or settles live money), the amount
MPP's challenge asks (``protocols.paid.amount_for``) in the asset's smallest units
(``x402_units_per_cent`` a cent). Its ``extra`` carries, beside the asset's EIP-712 domain the
client signs with, the merchant, the environment and an expiry bound by HMAC under a key of the
gateway's: a client echoes the requirement it pays (``accepted``), so a payment for another
merchant's offer, an altered amount or a stale offer is refused before the facilitator is asked.
Single use is the store's, as for MPP: the order is keyed by the offer (its binding, which a
nonce of its own makes unique to one refusal), never by the authorization, so an offer is
settled once however many authorizations, signed by however many payers, are presented for it:
only the first presented is settled, any other refused before the facilitator is asked.
"""

import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from x402.http import (
    decode_payment_signature_header,
    encode_payment_required_header,
    encode_payment_response_header,
)
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo
from x402.schemas.responses import SettleResponse

from ...values.clock import rfc3339
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.settings import Settings

__all__ = [
    "PAYMENT_REQUIRED_HEADER",
    "PAYMENT_RESPONSE_HEADER",
    "PAYMENT_SIGNATURE_HEADER",
    "STAGING",
    "Terms",
    "X402Verified",
    "enabled",
    "offer_header",
    "requirement",
    "response_header",
    "terms",
    "verify",
]

PAYMENT_REQUIRED_HEADER = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE_HEADER = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE_HEADER = "PAYMENT-RESPONSE"
_OURS = "aitopup"  # our binding's key in a requirement's ``extra``


@dataclass(frozen=True, slots=True)
class Terms:
    """Where and how one environment is paid: the network (CAIP-2), the asset (its contract,
    its EIP-712 domain's name and version), the address paid, and the facilitator's root."""

    network: str
    asset: str
    asset_name: str
    asset_version: str
    pay_to: str
    facilitator_url: str


# Staging's network and asset: Base Sepolia's USDC, a test network's.
STAGING = ("eip155:84532", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", "2")


def terms(settings: Settings, env: str) -> Terms | None:
    """``env``'s terms, or None where the operator has not enabled x402 there: live by
    ``AITOPUP_X402_PAY_TO`` and ``AITOPUP_X402_FACILITATOR_URL``, staging by their
    ``AITOPUP_X402_STAGING_`` twins (which ``make run`` sets to its stand-in facilitator)."""
    if env == "staging":
        pay_to, url = settings.x402_staging_pay_to, settings.x402_staging_facilitator_url
        if not (pay_to and url):
            return None
        return Terms(*STAGING, pay_to=pay_to, facilitator_url=url)
    if not (settings.x402_pay_to and settings.x402_facilitator_url):
        return None
    return Terms(
        settings.x402_network,
        settings.x402_asset,
        settings.x402_asset_name,
        settings.x402_asset_version,
        settings.x402_pay_to,
        settings.x402_facilitator_url,
    )


def enabled(settings: Settings, env: str) -> bool:
    return terms(settings, env) is not None


def _terms(settings: Settings, env: str) -> Terms:
    found = terms(settings, env)
    if found is None:
        raise ApiError(Code.PAYMENT_METHOD_UNSUPPORTED)  # x402 is off here
    return found


def _key(settings: Settings) -> bytes:
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"x402-offer-binding", hashlib.sha256).digest()


def _binding(settings: Settings, fields: list[str]) -> str:
    return hmac.new(_key(settings), "|".join(fields).encode(), hashlib.sha256).hexdigest()


def _bound_fields(
    terms: Terms, merchant_id: str, env: str, units: str, expires: str, nonce: str | None
) -> list[str]:
    """What an offer's binding is the HMAC of: an offer made before offers carried a nonce is
    bound without one."""
    fields = [merchant_id, env, terms.network, terms.asset, terms.pay_to, units, expires]
    return fields if nonce is None else [*fields, nonce]


def requirement(
    settings: Settings, *, merchant_id: str, env: str, amount_cents: int, now: datetime
) -> PaymentRequirements:
    """The ``exact`` requirement for ``amount_cents``, bound to the merchant and environment."""
    on = _terms(settings, env)
    ttl = settings.mpp_challenge_ttl_seconds
    expires = rfc3339(now + timedelta(seconds=ttl))
    units = str(amount_cents * settings.x402_units_per_cent)
    # Each refusal's offer its own, as an MPP challenge's nonce makes it: the order is keyed by
    # the offer, so two agents refused in the same second never share one.
    nonce = secrets.token_urlsafe(12)
    bound = _binding(settings, _bound_fields(on, merchant_id, env, units, expires, nonce))
    return PaymentRequirements(
        scheme="exact",
        network=on.network,
        asset=on.asset,
        amount=units,
        pay_to=on.pay_to,
        max_timeout_seconds=ttl,
        extra={
            "name": on.asset_name,
            "version": on.asset_version,
            _OURS: {
                "merchant": merchant_id,
                "env": env,
                "expires": expires,
                "nonce": nonce,
                "binding": bound,
            },
        },
    )


def offer_header(requirements: PaymentRequirements, resource_url: str) -> str:
    """``PAYMENT-REQUIRED``: the offer, base64 of the x402 v2 JSON."""
    offer = PaymentRequired(
        x402_version=2,
        error="The wallet is short for this request: pay the shortfall to send it",
        resource=ResourceInfo(
            url=resource_url, description="Wallet top-up", mime_type="application/json"
        ),
        accepts=[requirements],
    )
    return encode_payment_required_header(offer)


@dataclass(frozen=True, slots=True)
class X402Verified:
    """A payment whose offer this gateway made to this merchant and environment, unexpired."""

    payload: PaymentPayload
    requirements: PaymentRequirements
    amount_cents: int
    nonce: str  # the authorization's
    expires_at: datetime
    offer: str  # the offer's own id, its binding: what its order is keyed by, paid once


# What decoding an outsider's header may raise: its base64, its JSON (and its depth), its shape.
_UNREADABLE = (
    ValueError,
    ValidationError,
    UnicodeError,
    TypeError,
    KeyError,
    AttributeError,
    RecursionError,
    binascii.Error,
)


def verify(
    settings: Settings, header: str, *, merchant_id: str, env: str, now: datetime
) -> X402Verified:
    """The ``PAYMENT-SIGNATURE`` in ``header``, its echoed requirement checked against the
    settings and its binding (in constant time), its expiry, then its authorization's shape.
    Refusals as ``ApiError`` with the product's codes, as MPP's."""
    on = _terms(settings, env)
    try:
        payload = decode_payment_signature_header(header)
    except _UNREADABLE:
        # An outsider's bytes: whatever they make the codec raise (nested past the parser's
        # depth included), the answer is the envelope.
        raise ApiError(Code.PAYMENT_CREDENTIAL_MALFORMED) from None
    if not isinstance(payload, PaymentPayload):
        raise ApiError(Code.PAYMENT_METHOD_UNSUPPORTED)  # x402 v1
    accepted = payload.accepted
    ours: Any = (accepted.extra or {}).get(_OURS)
    if accepted.scheme != "exact" or not isinstance(ours, dict):
        raise ApiError(Code.PAYMENT_METHOD_UNSUPPORTED)
    expires, nonce_of_offer = str(ours.get("expires", "")), ours.get("nonce")
    if nonce_of_offer is not None and not isinstance(nonce_of_offer, str):
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)
    fields = _bound_fields(on, merchant_id, env, accepted.amount, expires, nonce_of_offer)
    expected = _binding(settings, fields)
    same_terms = (accepted.network, accepted.asset, accepted.pay_to) == (
        on.network,
        on.asset,
        on.pay_to,
    )
    if not hmac.compare_digest(str(ours.get("binding", "")).encode(), expected.encode()):
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)
    if not same_terms or (ours.get("merchant"), ours.get("env")) != (merchant_id, env):
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)
    try:
        expires_at = datetime.fromisoformat(expires)
    except ValueError:
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID) from None
    if expires_at <= now:
        raise ApiError(Code.PAYMENT_CHALLENGE_EXPIRED)
    if not (accepted.amount.isascii() and accepted.amount.isdigit()):
        raise ApiError(Code.PAYMENT_CREDENTIAL_MALFORMED)
    units, cents = int(accepted.amount), settings.x402_units_per_cent
    authorization = payload.payload.get("authorization")
    nonce = authorization.get("nonce") if isinstance(authorization, dict) else None
    if units % cents or not isinstance(nonce, str) or not 1 <= len(nonce) <= 100:
        raise ApiError(Code.PAYMENT_CREDENTIAL_MALFORMED)
    return X402Verified(payload, accepted, units // cents, nonce, expires_at, expected)


def response_header(settled: SettleResponse) -> str:
    """``PAYMENT-RESPONSE``: the facilitator's settlement, base64 of its JSON."""
    return encode_payment_response_header(settled)
