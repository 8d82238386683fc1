"""Time and identifiers, in one place so tests and formats agree."""

import secrets
import string
import time
from datetime import UTC, datetime

__all__ = ["new_id", "rfc3339", "utcnow"]

_BASE62 = string.digits + string.ascii_letters


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_BASE62[digit])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """``<prefix>_<time><random>``: sorts by creation time, so ids double as cursors."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_base62(millis, 8)}{_base62(secrets.randbits(95), 16)}"
