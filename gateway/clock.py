"""Time and identifiers, in one place so tests and formats agree."""

import secrets
import string
import threading
import time
from datetime import UTC, datetime

__all__ = ["new_id", "rfc3339", "utcnow"]

# Lower-case only: PostgreSQL's locale collations do not sort mixed case byte by byte, and ids
# must sort the same on every backend because they double as cursors.
_BASE36 = string.digits + string.ascii_lowercase
_lock = threading.Lock()
_last = [0, 0]  # the last millisecond an id was made in, and how many were made in it


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base36(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        out.append(_BASE36[digit])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """``<prefix>_<time><sequence><random>``, 24 characters after the prefix.

    Sorts by creation time (and, within one process, by creation order inside a millisecond),
    so lists can page by id.
    """
    with _lock:
        millis = max(time.time_ns() // 1_000_000, _last[0])
        sequence = _last[1] + 1 if millis == _last[0] else 0
        if sequence >= 36**3:  # 46,656 ids in one millisecond: borrow the next one
            millis, sequence = millis + 1, 0
        _last[0], _last[1] = millis, sequence
    return f"{prefix}_{_base36(millis, 9)}{_base36(sequence, 3)}{_base36(secrets.randbits(62), 12)}"
