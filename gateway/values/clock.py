"""Time and identifiers, in one place so tests and formats agree.

``Clock`` is the time a schedule reads: the worker's runner (when a row falls due, how long to
sleep), the retry schedule its records write, and a merchant's hold on its share of the room.
``SYSTEM`` is the real one; a test hands in one it moves on itself, instead of sleeping
through the delays.
"""

import asyncio
import math
import os
import string
import threading
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = [
    "SYSTEM",
    "Clock",
    "SystemClock",
    "id_floor",
    "id_time",
    "new_id",
    "rfc3339",
    "rfc3339_or_none",
    "utcnow",
    "when",
]

# Lower-case only: PostgreSQL's locale collations do not sort mixed case byte by byte, and ids
# must sort the same on every backend because they double as cursors.
_BASE36 = string.digits + string.ascii_lowercase
_lock = threading.Lock()
_last = [0, 0]  # the last millisecond an id was made in, and how many were made in it


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    """The time as a schedule reads it: ``now`` (the wall clock, in UTC, as rows store it),
    ``monotonic`` (seconds, for intervals) and ``sleep``, all three of one clock."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real time."""

    __slots__ = ()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM: Clock = SystemClock()


# The last second formatted, and its text: every reply and event stamps the current second.
# One tuple, swapped whole, so threads sharing it never see a mismatched pair.
_last_second: tuple[int, str] = (-1, "")


def rfc3339(moment: datetime) -> str:
    global _last_second
    second = math.floor(moment.timestamp())
    last, text = _last_second
    if last != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        _last_second = (second, text)
    return text


def rfc3339_or_none(moment: datetime | None) -> str | None:
    """A moment a row may lack (an expiry, a last use, a revocation): ``None`` stays ``None``."""
    return rfc3339(moment) if moment is not None else None


# Three digits at a time: an id is made on every write, and a digit at a time was most of its cost.
_TRIPLES = [a + b + c for a in _BASE36 for b in _BASE36 for c in _BASE36]
_TRIPLE = 36**3


def _base36(number: int, width: int) -> str:
    """``number`` in ``width`` base-36 digits; ``width`` is a multiple of 3."""
    out = []
    for _ in range(width // 3):
        number, triple = divmod(number, _TRIPLE)
        out.append(_TRIPLES[triple])
    return "".join(reversed(out))


# Random bits are read from the OS in bulk: a read per id was a system call per id. The buffer is
# dropped in a forked child, whose ids must not repeat its parent's.
_RANDOM_CHUNK = 4096
_random = bytearray()
os.register_at_fork(after_in_child=_random.clear)


def _random62() -> int:
    """Sixty-two random bits; call with ``_lock`` held."""
    if len(_random) < 8:
        _random[:] = os.urandom(_RANDOM_CHUNK)
    bits = int.from_bytes(_random[-8:]) >> 2
    del _random[-8:]
    return bits


# The last millisecond's nine digits: the ids of one request share their millisecond.
_stamp: tuple[int, str] = (-1, "")


def new_id(prefix: str) -> str:
    """``<prefix>_<time><sequence><random>``, 24 characters after the prefix.

    Sorts by creation time (and, within one process, by creation order inside a millisecond),
    so lists can page by id.
    """
    global _stamp
    with _lock:
        millis = max(time.time_ns() // 1_000_000, _last[0])
        sequence = _last[1] + 1 if millis == _last[0] else 0
        if sequence >= _TRIPLE:  # 46,656 ids in one millisecond: borrow the next one
            millis, sequence = millis + 1, 0
        _last[0], _last[1] = millis, sequence
        if _stamp[0] != millis:
            _stamp = (millis, _base36(millis, 9))
        stamp = _stamp[1]
        bits = _random62()
    # Twelve digits, unrolled: 2**62 is under 36**12, so the first triple is in range too.
    bits, d = divmod(bits, _TRIPLE)
    bits, c = divmod(bits, _TRIPLE)
    a, b = divmod(bits, _TRIPLE)
    random = _TRIPLES[a] + _TRIPLES[b] + _TRIPLES[c] + _TRIPLES[d]
    return f"{prefix}_{stamp}{_TRIPLES[sequence]}{random}"


def id_floor(prefix: str, moment: datetime) -> str:
    """The least id ``new_id(prefix)`` makes at ``moment`` or later: every id made before it
    sorts below, so "older than" is a range of the primary key."""
    millis = math.floor(moment.timestamp() * 1000)
    return f"{prefix}_{_base36(millis, 9)}"


def id_time(prefix: str, identifier: str) -> datetime | None:
    """The millisecond ``identifier`` was made in, if ``new_id(prefix)`` could have made it
    (``id_floor``'s inverse); None for any other text."""
    stamp = identifier[len(prefix) + 1 : len(prefix) + 10]
    if not identifier.startswith(f"{prefix}_") or len(stamp) < 9:
        return None
    if any(c not in _BASE36 for c in stamp):
        return None
    return datetime.fromtimestamp(int(stamp, 36) / 1000, UTC)


def when(moment: datetime | str | None, now: datetime | None = None) -> str:
    """One date format on every page people read (the dashboard, the sandbox checkout):
    ``2026-11-23 23:30 UTC (5 min ago)``."""
    if moment is None or moment == "":
        return "never"
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:  # not a time we wrote: shown as it is, never a failed page
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    seconds = int(((now or utcnow()) - moment).total_seconds())
    ago = abs(seconds)
    if ago < 60:
        relative = "just now"
    else:
        for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
            if ago >= size:
                amount = f"{ago // size} {unit}"
                break
        relative = f"{amount} ago" if seconds > 0 else f"in {amount}"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({relative})"
