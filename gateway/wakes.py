"""The gateway's after-commit wakes, grouped across requests.

A wake is one Redis publish naming every kind of work it is for (``outbox.wake``). A busy
gateway commits hundreds of sends a second, and a worker needs one wake for all that are due, not
one each: so a process wakes through one ``Waker``, which publishes at most once per ``linger``
for every kind handed in meanwhile (as a Kafka producer's ``linger.ms`` does). An idle gateway
wakes at once. Best effort: the rows are written, and every worker looks at its rows on its own
too.
"""

import asyncio
import contextlib
from collections.abc import Iterable

from . import outbox
from .redis_client import ANSWER_WITHIN, Redis

__all__ = ["LINGER", "Waker"]

LINGER = 0.005


class Waker:
    def __init__(
        self, redis: Redis, *, linger: float = LINGER, answer_within: float = ANSWER_WITHIN
    ) -> None:
        self._redis = redis
        self._linger = linger
        self._answer_within = answer_within  # each publish's bound
        self._pending: set[str] = set()
        self._runner: asyncio.Task[None] | None = None
        self._last = float("-inf")  # when the last wake went, on the loop's clock
        self._draining = asyncio.Event()

    def wake(self, ids: Iterable[str]) -> None:
        """Outbox rows ``ids`` have committed: their kinds' workers are woken."""
        self._pending |= outbox.kinds_of(ids)
        if self._pending and (self._runner is None or self._runner.done()):
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            wait = self._last + self._linger - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._draining.wait()  # a drain cuts the linger short
            self._last = loop.time()
            kinds, self._pending = self._pending, set()
            await outbox.wake(self._redis, kinds, within=self._answer_within)  # logs, never raises

    async def drain(self) -> None:
        """Publish what was handed in so far, now rather than after a linger: before Redis is
        closed."""
        self._draining.set()
        try:
            while self._runner is not None and not self._runner.done():
                await self._runner
        finally:
            self._draining.clear()
