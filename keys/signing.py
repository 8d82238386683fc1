"""Webhook signatures, both schemes, over the exact bytes sent.

``X-AiTopUp-Signature: t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`` and the Standard
Webhooks ``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")>``. During a secret
rotation every header carries one signature per secret.
"""

import base64
import hmac
import time
from collections.abc import Sequence

from .errors import BadSignature

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "aitopup_signature",
    "sign_headers",
    "standard_signature",
    "verify_aitopup",
    "verify_standard",
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


def sign_headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every signature header an outgoing webhook carries."""
    if not keys:
        raise BadSignature("no signing key")
    return {
        "X-AiTopUp-Signature": aitopup_signature(keys, timestamp, body),
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(keys, msg_id, timestamp, body),
    }


def _check_timestamp(timestamp: int, tolerance: int, now: float | None) -> None:
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
    _check_timestamp(timestamp, tolerance, now)
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
    _check_timestamp(int(timestamp), tolerance, now)
    candidates = [
        value.encode()
        for version, _, value in (s.partition(",") for s in header.split(" "))
        if version == "v1"
    ]
    expected = base64.b64encode(_hmac(key, f"{msg_id}.{timestamp}.".encode() + body))
    if not _any_matches(expected, candidates):
        raise BadSignature("no signature matches")
