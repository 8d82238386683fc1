"""Webhook signatures, both schemes, over the exact bytes sent.

``X-AiTopUp-Signature: t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`` and the Standard
Webhooks ``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")>``. During a secret
rotation every header carries one signature per secret. An endpoint signing with ed25519 adds
``v1a,<base64 ed25519 over "<id>.<t>.<body>">`` per key (``ed25519``) to ``webhook-signature``,
space-separated beside the ``v1,`` ones, as the Standard Webhooks spec has it.
"""

import base64
import binascii
import hmac
import time
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import BadSignature

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "aitopup_signature",
    "sign_headers",
    "standard_signature",
    "v1a_signature",
    "verify_aitopup",
    "verify_standard",
    "verify_v1a",
]

DEFAULT_TOLERANCE_SECONDS = 300


def _hmac(key: bytes, message: bytes) -> bytes:
    # The one-shot form: no HMAC object, about half the time of ``hmac.new(…).digest()``.
    return hmac.digest(key, message, "sha256")


def aitopup_signature(keys: Sequence[bytes], timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return ",".join([f"t={timestamp}", *(f"v1={_hmac(k, signed).hex()}" for k in keys)])


def standard_signature(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(f"v1,{base64.b64encode(_hmac(k, signed)).decode()}" for k in keys)


def v1a_signature(
    keys: Sequence[Ed25519PrivateKey], msg_id: str, timestamp: int, body: bytes
) -> str:
    """One ``v1a,`` signature per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(f"v1a,{base64.b64encode(k.sign(signed)).decode()}" for k in keys)


def sign_headers(
    keys: Sequence[bytes],
    msg_id: str,
    timestamp: int,
    body: bytes,
    *,
    ed25519: Sequence[Ed25519PrivateKey] = (),
) -> dict[str, str]:
    """Every signature header an outgoing webhook carries: ``v1,`` per HMAC key and ``v1a,`` per
    ed25519 key in ``webhook-signature``; ``X-AiTopUp-Signature`` is HMAC only, so an endpoint
    signed by ed25519 alone goes without it."""
    if not keys and not ed25519:
        raise BadSignature("no signing key")
    signatures = [
        *([standard_signature(keys, msg_id, timestamp, body)] if keys else ()),
        *([v1a_signature(ed25519, msg_id, timestamp, body)] if ed25519 else ()),
    ]
    headers = {"X-AiTopUp-Signature": aitopup_signature(keys, timestamp, body)} if keys else {}
    headers.update(
        {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signatures),
        }
    )
    return headers


def check_timestamp(timestamp: int, tolerance: int, now: float | None) -> None:
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise BadSignature("timestamp outside the tolerance")


def _any_matches(expected: bytes, candidates: Sequence[bytes]) -> bool:
    # Compare against every candidate, so timing says nothing about which one matched.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(expected, candidate)
    return found


def verify_aitopup(
    key: bytes,
    header: str,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    timestamp: int | None = None
    candidates: list[bytes] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value.encode())
    if timestamp is None or not candidates:
        raise BadSignature("malformed signature header")
    check_timestamp(timestamp, tolerance, now)
    expected = _hmac(key, f"{timestamp}.".encode() + body).hex().encode()
    if not _any_matches(expected, candidates):
        raise BadSignature("no signature matches")


def verify_standard(
    key: bytes,
    msg_id: str,
    timestamp: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    if not timestamp.isdigit():
        raise BadSignature("malformed timestamp")
    check_timestamp(int(timestamp), tolerance, now)
    candidates = [
        value.encode()
        for version, _, value in (s.partition(",") for s in header.split(" "))
        if version == "v1"
    ]
    expected = base64.b64encode(_hmac(key, f"{msg_id}.{timestamp}.".encode() + body))
    if not _any_matches(expected, candidates):
        raise BadSignature("no signature matches")


def verify_v1a(
    key: Ed25519PublicKey,
    msg_id: str,
    timestamp: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Passes when any ``v1a,`` signature of ``header`` verifies under ``key``: what a
    receiver holding only the public key runs."""
    if not timestamp.isdigit():
        raise BadSignature("malformed timestamp")
    check_timestamp(int(timestamp), tolerance, now)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for version, _, value in (s.partition(",") for s in header.split(" ")):
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(value, validate=True), signed)
        except (InvalidSignature, binascii.Error, ValueError):
            continue
        return
    raise BadSignature("no signature matches")
