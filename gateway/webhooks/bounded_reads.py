"""Reads of a far side made for whoever asks (an OAuth client's metadata document, which anyone
may name; a recipient's OpenRouter figures, which anyone with the page's link may load), bounded
apart from every merchant's own calls, in this process:

- reads of one key at once are one read; a caller that goes away leaves it to the others;
- an answer, or a failure, is kept as long as the read says (none: read again next time);
- an origin (scheme, host, port) is read at most ``each`` at once and ``each_a_minute`` a
  minute, and every origin together at most ``at_once``; a read past a bound is not made, and
  not kept as a failure, since the far side is not at fault.

Counted in the process, not in Redis, so no Redis outage opens the bounds. What a read may take
and how much of its answer is read are the caller's: its own client, deadline and cap
(``webhooks.bodies``)."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar
from urllib.parse import urlsplit

__all__ = ["REMEMBERED", "BoundedReads", "Read"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

REMEMBERED = 10_000  # keys and origins kept; past it a process starts afresh
# What a read answered (``None``: nothing, a failure or a read not made), and for how many
# seconds it is kept (zero or less: not kept).
Read = tuple[V | None, float]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


class BoundedReads(Generic[K, V]):
    """One process's reads of one kind (see the module). ``clock`` is monotonic seconds."""

    def __init__(
        self,
        *,
        at_once: int,
        each: int,
        each_a_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._at_once = at_once
        self._each = each
        self._each_a_minute = each_a_minute
        self._clock = clock
        self._kept: dict[K, tuple[float, V | None]] = {}  # until when, answer
        self._reading: dict[K, asyncio.Future[V | None]] = {}
        self._in_flight: dict[str, int] = {}  # origin -> reads in flight
        self._minutes: dict[str, tuple[float, int]] = {}  # origin -> (window start, reads)

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    def forget(self) -> None:
        """Every kept answer and failure dropped: the next caller reads again."""
        self._kept.clear()

    async def once(self, key: K, read: Callable[[], Awaitable[Read[V]]]) -> V | None:
        """What is kept of ``key`` while it is; else ``read()``'s answer, kept as it says, and
        the answer of every caller of ``key`` that comes while it runs."""
        kept = self._kept.get(key)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        reading = self._reading.get(key)
        if reading is not None:  # shielded: a caller that goes away leaves it to the others
            return await asyncio.shield(reading)
        reading = asyncio.get_running_loop().create_future()
        self._reading[key] = reading  # before any wait: callers from now on wait for this one
        found: V | None = None
        try:
            found, seconds = await read()
            if seconds > 0:
                if len(self._kept) >= REMEMBERED:
                    self._kept.clear()
                self._kept[key] = (self._clock() + seconds, found)
            return found
        finally:
            del self._reading[key]
            reading.set_result(found)

    def start(self, url: str) -> str | None:
        """The origin of ``url``, counted in flight, if a read of it may start now (hand it to
        ``end`` when the read is over); ``None`` past a bound, nothing counted."""
        origin, now = _origin(url), self._clock()
        if self.in_flight >= self._at_once:
            return None
        if self._in_flight.get(origin, 0) >= self._each:
            return None
        started, reads = self._minutes.get(origin, (now, 0))
        if now - started >= 60:
            started, reads = now, 0
        if reads >= self._each_a_minute:
            return None
        if len(self._minutes) >= REMEMBERED:
            self._minutes.clear()
        self._minutes[origin] = (started, reads + 1)
        self._in_flight[origin] = self._in_flight.get(origin, 0) + 1
        return origin

    def end(self, origin: str) -> None:
        """A read ``start`` counted is over."""
        left = self._in_flight.pop(origin) - 1
        if left:
            self._in_flight[origin] = left
