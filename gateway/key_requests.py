"""How many requests each API key made, today, this week, this month and in all, as OpenRouter's
key page shows them.

Every door admits a key through ``auth.authenticate_key``, which tells this process's
``RequestCounter``. Counting in Redis on every request would add a round trip to each (and the
send is the hot path), so a process adds up its keys' requests in memory and a task of its own
sends them to Redis once a second, one pipelined ``INCRBY`` a window for every key that made
any; the task ends when nothing is left to send, so an idle process does nothing. Counts in
Redis are at most a second behind, shared by every process. Windows are calendar windows in UTC
(weeks from Monday), as the key's spend limits are; each window's counter expires after it.
Redis not answering (within ``ANSWER_WITHIN``) loses that second's counts, never a request: the
counts are a view, not a record (the ledger and the top-ups are that).
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime, timedelta

from .redis_client import ANSWER_WITHIN, Redis
from .values.clock import utcnow
from .values.model import Model
from .values.settings import Settings

__all__ = ["FLUSH_SECONDS", "RequestCounter", "RequestCounts", "read_counts"]

log = logging.getLogger(__name__)

# The settings' default (``key_request_counts_flush_seconds``).
FLUSH_SECONDS: float = Settings.model_fields["key_request_counts_flush_seconds"].default
_PREFIX = "aitopup:key-requests"


class RequestCounts(Model):
    today: int
    this_week: int
    this_month: int
    all_time: int


def _windows(now: datetime) -> list[tuple[str, int | None]]:
    """``(suffix, ttl)`` of each counter a request at ``now`` counts in."""
    day = now.date()
    monday = day - timedelta(days=day.weekday())
    return [
        (f"d:{day.isoformat()}", 2 * 86400),
        (f"w:{monday.isoformat()}", 8 * 86400),
        (f"m:{day:%Y-%m}", 32 * 86400),
        ("all", None),
    ]


def _key(key_id: str, suffix: str) -> str:
    return f"{_PREFIX}:{key_id}:{suffix}"


class RequestCounter:
    """This process's requests not yet sent to Redis, by key, and the task that sends them."""

    def __init__(
        self, flush_seconds: float = FLUSH_SECONDS, *, answer_within: float = ANSWER_WITHIN
    ) -> None:
        self.flush_seconds = flush_seconds
        self._answer_within = answer_within
        self._pending: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def record(self, redis: Redis, key_id: str) -> None:
        self._pending[key_id] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(redis))

    async def _run(self, redis: Redis) -> None:
        while self._pending:
            await asyncio.sleep(self.flush_seconds)
            await self.flush(redis)

    async def flush(self, redis: Redis, now: datetime | None = None) -> None:
        """Send what this process counted to Redis now."""
        taken, self._pending = self._pending, Counter()
        if not taken:
            return
        windows = _windows(now or utcnow())
        try:
            async with (
                asyncio.timeout(self._answer_within),
                redis.pipeline(transaction=False) as pipe,
            ):
                for key_id, count in taken.items():
                    for suffix, ttl in windows:
                        pipe.incrby(_key(key_id, suffix), count)
                        if ttl is not None:
                            pipe.expire(_key(key_id, suffix), ttl)
                await pipe.execute()
        except Exception:  # Redis away: the counts are a view; the requests went on
            log.warning("key request counts were not written", exc_info=True)

    async def close(self, redis: Redis) -> None:
        """Send what is left (at shutdown), once the task has stopped: never a write cut off
        halfway, nor a task left behind the loop."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await self.flush(redis)


async def read_counts(
    redis: Redis, key_ids: Sequence[str], now: datetime | None = None
) -> dict[str, RequestCounts]:
    """Each key's counts in the current windows; zeros where Redis has none or does not answer."""
    windows = _windows(now or utcnow())
    names = [_key(key_id, suffix) for key_id in key_ids for suffix, _ in windows]
    try:
        async with asyncio.timeout(ANSWER_WITHIN):
            values = await redis.mget(names) if names else []
    except Exception:
        log.warning("key request counts could not be read", exc_info=True)
        values = [None] * len(names)
    found: dict[str, RequestCounts] = {}
    for index, key_id in enumerate(key_ids):
        day, week, month, total = (int(v or 0) for v in values[index * 4 : index * 4 + 4])
        found[key_id] = RequestCounts(today=day, this_week=week, this_month=month, all_time=total)
    return found
