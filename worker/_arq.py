"""ARQ's worker below its public API, reached in this one place.

ARQ has no hook to choose which due jobs a worker takes: every poll starts every due job at the
queue's head, up to ``max_jobs``, and ``max_jobs`` counts jobs, not the deliveries inside them
(``worker.queue`` says why that matters). ``SelectiveWorker`` gives a subclass that choice, and
it reaches two things of ``arq.worker.Worker`` outside ARQ's documented API:

- ``start_jobs(self, job_ids: list[bytes]) -> None``, which each poll calls with the due ids at
  the queue's head, raw from Redis: each is the ``_job_id`` the job was enqueued with, encoded.
  It is overridden here, and ARQ's own is called with one id at a time, so a job passed over is
  never marked as running and stays in the queue for any worker (and in the sweep's sight).
- ``tasks: dict[str, asyncio.Task]``, the jobs this process runs, keyed by decoded job id. After
  ARQ's ``start_jobs`` returns, a job it declined (held by another worker, or gone) is not in it.

ARQ's worker also stops for good on the first Redis error its poll loop meets (``main`` lets it
out, and ``close`` then fails on Redis before the shutdown hook runs, so the process neither
delivers nor exits), and ``start_jobs`` keeps a job slot it took when Redis fails under it (a
few outages and the worker stops taking jobs). A job that ends while Redis is away ran, but ARQ
cannot record its end and keeps that Redis error as the task's result, which its poll re-raises
as it reaps the task, one task a poll. ``ResilientWorker`` waits such an outage out, drops the
tasks whose end Redis lost, and closes whatever Redis says; for that it reaches:

- ``_poll_iteration(self) -> None``, one poll (read the queue, start jobs, reap finished tasks,
  heartbeat, cron), wrapped so that a Redis error is waited out with backoff;
- ``tasks`` (below), whose done tasks ARQ's poll reaps with ``Task.result()``;
- ``job_counter: int`` and ``sem: asyncio.BoundedSemaphore``, which ``start_jobs`` takes before
  its Redis round trips and gives back only on Redis's answers, not on its errors;
- ``health_check_key``, ``on_shutdown``, ``ctx`` and ``_pool``, which ``close`` uses as ARQ's
  own ``close`` does.

ARQ's worker polls its queue every ``poll_delay`` whether or not anything is there: at the 10 ms
a low latency needs, an idle worker spent 3.6-5.6% of a core on it. ``WakingWorker`` polls that
fast only while it has work; idle, it waits for the enqueue's signal (``outbox.WAKE_CHANNEL``),
the next deferred job or cron run in the queue, or ``idle_poll``, whichever comes first. For
that it reaches ``_poll_iteration`` (above), ``tasks``, ``burst``, ``queue_name`` and ``pool``.

``tests/worker/test_arq.py`` fails if any of these moves (signature, attribute, and one real job
through a poll), and ``pyproject.toml`` bounds arq below its next minor release.
"""

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from gateway.outbox import WAKE_CHANNEL

__all__ = [
    "CLOSE_WITHIN",
    "OUTAGE_BACKOFF_CAP",
    "REDIS_DOWN",
    "ResilientWorker",
    "SelectiveWorker",
    "WakingWorker",
]

log = logging.getLogger("aitopup.worker")

# The first poll after a Redis error comes this soon, then twice as late each time, up to the
# cap: a Redis restarted empty is polled again within a second or two, and a long outage costs
# one failed round trip every couple of seconds.
OUTAGE_BACKOFF_FIRST = 0.05
OUTAGE_BACKOFF_CAP = 2.0
# The longest ``close`` takes: jobs cancelled, the shutdown hook run, Redis let go. Past it the
# process exits anyway (``worker.__main__``).
CLOSE_WITHIN = 10.0
# Errors of a Redis that went away: refused, reset, timed out. Anything else is a bug to report.
REDIS_DOWN = (RedisError, OSError)
WAKE_MARGIN = 0.002
# Jobs at the queue's head read before an idle wait: more due jobs than this, all held by other
# workers, are rare; then the wait is ``idle_poll`` at most.
_HEAD_READ = 64


class WakingWorker(Worker):
    """ARQ's worker, polling fast only while it has work: idle, it waits for a signal."""

    def __init__(
        self, *args: Any, idle_poll: float = 1.0, wake_channel: str = WAKE_CHANNEL, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.idle_poll = idle_poll
        self._wake_channel = wake_channel
        self._wake: PubSub | None = None
        self._started = False

    async def _poll_iteration(self) -> None:
        try:
            await self._wait_while_idle()
        except REDIS_DOWN:
            await self._stop_listening()
            raise
        known = set(self.tasks)
        await super()._poll_iteration()
        # A job started here: more may follow it, so the next poll comes after ``poll_delay``.
        self._started = not set(self.tasks) <= known

    async def _wait_while_idle(self) -> None:
        """Returns at once while this process runs a job, its last poll started one, or a job
        fell due since; otherwise once a job is enqueued anywhere, the queue's next deferred job
        (a retry, a cron run) falls due, or ``idle_poll`` has passed. A due job in progress is
        another worker's (or a killed one's, which the sweep hands out again): not waited for."""
        if self.burst or self._started or any(not t.done() for t in self.tasks.values()):
            return
        if self._wake is None:
            # Subscribed before the queue is read: a job enqueued after the read is signalled.
            self._wake = self.pool.pubsub()
            await self._wake.subscribe(self._wake_channel)
        # One read of the queue's head: the jobs due (any not held by another worker means a
        # poll now), then the next one not yet due, which a due job held elsewhere must not hide.
        now = timestamp_ms()
        head = await self.pool.zrange(self.queue_name, 0, _HEAD_READ - 1, withscores=True)
        due = [job_id for job_id, score in head if score <= now]
        if due:
            held = await self.pool.exists(*(in_progress_key_prefix + j.decode() for j in due))
            if held < len(due):
                return  # fell due since the last poll read the queue
        timeout = self.idle_poll
        later = [score for _, score in head if score > now]
        if later:
            # A little late rather than early: a poll a moment before it is due misses it.
            timeout = min(timeout, (later[0] - now) / 1000 + WAKE_MARGIN)
        message = await self._wake.get_message(ignore_subscribe_messages=True, timeout=timeout)
        # Signals that came together wake once.
        while message is not None:
            message = await self._wake.get_message(ignore_subscribe_messages=True, timeout=0)

    async def _stop_listening(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None:
            with contextlib.suppress(*REDIS_DOWN):
                # redis-py leaves ``PubSub.aclose`` unannotated.
                await wake.aclose()  # type: ignore[no-untyped-call]


class ResilientWorker(WakingWorker):
    """ARQ's worker, kept running through a Redis outage and closed whatever Redis answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outage_since: float | None = None
        self._backoff = 0.0

    async def _poll_iteration(self) -> None:
        self._drop_unrecorded_ends()
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            await self._wait_out(exc)
            return
        if self._outage_since is not None:
            log.warning(
                "Redis answers again; delivering",
                extra={"outage_seconds": round(time.monotonic() - self._outage_since, 1)},
            )
            self._outage_since = None
            self._backoff = 0.0

    def _drop_unrecorded_ends(self) -> None:
        """Forgets the jobs that ended while Redis was away. Each ran (what it did is in the
        database, and the sweep hands out again any delivery it left), but ARQ could not record
        its end; reaped by ARQ, each would count as an outage of its own, a backoff and an idle
        wait a task: twenty such jobs kept a worker from its queue for a minute after Redis was
        back."""
        running: dict[str, asyncio.Task[Any]] = self.tasks
        for job_id, task in list(running.items()):
            if task.done() and not task.cancelled() and isinstance(task.exception(), REDIS_DOWN):
                del running[job_id]

    async def _wait_out(self, exc: BaseException) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            # One line an outage, not one a poll: a 10 ms poll would write a hundred a second.
            log.warning(
                "Redis unavailable; retrying with backoff",
                extra={"error": str(exc) or type(exc).__name__},
            )
        self._backoff = min(OUTAGE_BACKOFF_CAP, max(OUTAGE_BACKOFF_FIRST, 2 * self._backoff))
        await asyncio.sleep(self._backoff)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        counted = self.job_counter
        try:
            await super().start_jobs(job_ids)
        except REDIS_DOWN:
            # ARQ took a slot for the job being started and keeps it when Redis fails under it;
            # a job it did start gave its own back when it ended, or will.
            started = sum(1 for raw in job_ids if raw.decode() in self.tasks)
            for _ in range(self.job_counter - counted - started):
                self.job_counter -= 1
                self.sem.release()
            raise

    async def close(self) -> None:
        """ARQ's ``close``, bounded by ``CLOSE_WITHIN`` and indifferent to Redis: the shutdown
        hook (which closes the database and the HTTP clients) runs even when Redis is gone, and
        jobs still running are cancelled rather than awaited (their deliveries are leased in the
        database, and the sweep hands them out again)."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        try:
            async with asyncio.timeout(CLOSE_WITHIN):
                await self._close()
        except TimeoutError:
            log.error("the worker did not close within %ss", CLOSE_WITHIN)

    async def _close(self) -> None:
        await self._stop_listening()
        tasks = [t for t in self.tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        pool = self._pool
        if pool is None:
            return
        with contextlib.suppress(*REDIS_DOWN):
            await pool.delete(self.health_check_key)
        try:
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)
        finally:
            with contextlib.suppress(*REDIS_DOWN):
                await pool.aclose(close_connection_pool=True)
            self._pool = None


class SelectiveWorker(ResilientWorker):
    """ARQ's worker, asked per job whether to start it.

    Ids this process already runs are passed over before ARQ's own check, which costs three Redis
    round trips an id on every poll."""

    def admit(self, job_id: str) -> bool:
        """Whether to start this due job now; one passed over stays queued."""
        return True

    def started(self, job_id: str, task: asyncio.Task[Any]) -> None:
        """Called once for each job this process has just started, with its task."""

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        running: dict[str, asyncio.Task[Any]] = self.tasks
        for raw in job_ids:
            job_id = raw.decode()
            if job_id in running or not self.admit(job_id):
                continue
            # One at a time, so that each admission sees what the ones before it started.
            await super().start_jobs([raw])
            task = running.get(job_id)
            if task is not None:
                self.started(job_id, task)
