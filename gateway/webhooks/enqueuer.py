"""The gateway's after-commit enqueues, grouped across requests.

Enqueueing one ARQ job costs several Redis round trips (a watched check that the id is free,
then a transaction), several times a delivery's share of a job of five; a send with a webhook
endpoint spent a fifth of its CPU there (``docs/performance.md``). So a process enqueues
through one ``Enqueuer``, which starts at most one enqueue per ``linger`` (as a Kafka producer's
``linger.ms`` does): an idle gateway enqueues a send's deliveries at once, and a busy one carries
everything handed in meanwhile as ``deliver_many`` jobs (``outbox.enqueue_jobs``), a few
milliseconds later. Best effort, as before: the rows are written, and the worker's sweep finds
any delivery whose job never made it to Redis.

Mails go in a lane of their own with a longer linger: every delivered send writes a voucher
mail, and with the deliveries' linger a busy gateway spent a large part of a send's CPU
enqueueing them two or three at a time (docs/performance.md, "Figures behind the code's
choices"). A person reading an e-mail does not see a tenth of a second; a receiver
waiting for a webhook may, so deliveries keep theirs.
"""

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from .. import outbox

__all__ = ["LINGER", "MAIL_LINGER", "Enqueuer"]

LINGER = 0.005
MAIL_LINGER = 0.1


class _Lane:
    """Jobs handed in, and the one task that enqueues them at most once per ``linger``."""

    def __init__(self, redis: Any, linger: float) -> None:
        self._redis = redis
        self._linger = linger
        self._pending: list[outbox.Job] = []
        self._runner: asyncio.Task[None] | None = None
        self._last = float("-inf")  # when the last enqueue started, on the loop's clock
        self._draining = asyncio.Event()

    def add(self, jobs: list[outbox.Job]) -> None:
        self._pending.extend(jobs)
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
            jobs, self._pending = self._pending, []
            await outbox.enqueue_jobs(self._redis, jobs)  # logs, never raises

    async def drain(self) -> None:
        self._draining.set()
        try:
            while self._runner is not None and not self._runner.done():
                await self._runner
        finally:
            self._draining.clear()


class Enqueuer:
    def __init__(
        self, redis: Any, *, linger: float = LINGER, mail_linger: float = MAIL_LINGER
    ) -> None:
        self._deliveries = _Lane(redis, linger)
        self._mails = _Lane(redis, mail_linger)

    def enqueue(self, delivery_ids: Iterable[str]) -> None:
        """New deliveries (generation 0) whose rows have committed."""
        self.enqueue_jobs((delivery_id, 0) for delivery_id in delivery_ids)

    def enqueue_jobs(self, jobs: Iterable[outbox.Job]) -> None:
        deliveries: list[outbox.Job] = []
        mails: list[outbox.Job] = []
        for job in jobs:
            (mails if job[0].startswith(outbox.MAIL_PREFIX) else deliveries).append(job)
        if deliveries:
            self._deliveries.add(deliveries)
        if mails:
            self._mails.add(mails)

    async def drain(self) -> None:
        """Enqueue everything handed in so far, now rather than after a linger: before Redis is
        closed."""
        await asyncio.gather(self._deliveries.drain(), self._mails.drain())
