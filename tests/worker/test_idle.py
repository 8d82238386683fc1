"""An idle worker waits for work instead of polling its queue every 10 ms, and still starts a
delivery as soon as it is enqueued, or a deferred one as soon as it falls due."""

import asyncio
import statistics
import time
from datetime import timedelta
from typing import Any

import httpx
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from gateway import outbox
from gateway.store.db import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.core import loop_lag, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker
from worker.__main__ import SAFETY_SWEEP_SECONDS, worker_settings

# Far longer than any wait below: only the enqueue's signal or the queue's next due job can
# explain a quick start.
IDLE_POLL = 30.0


async def _queue_reads(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    reads = ("cmdstat_zrangebyscore", "cmdstat_zrange")
    return sum(int(stats.get(read, {"calls": 0})["calls"]) for read in reads)


def _runs(worker: Any) -> int:
    """Jobs the worker has run, however each ended: idle, its cron runs."""
    return int(worker.jobs_complete + worker.jobs_failed + worker.jobs_retried)


async def test_an_idle_worker_reads_its_queue_only_around_its_cron_runs(
    start_worker: StartWorker, redis_url: str
) -> None:
    running = await start_worker(worker_idle_poll_seconds=IDLE_POLL)
    redis = Redis.from_url(redis_url)
    try:
        before, runs_before = await _queue_reads(redis), _runs(running.worker)
        # A window measured, not work awaited: one cadence of the safety sweeps, so it holds
        # each kind of cron run the worker makes (the upstream work's each second, the sweeps').
        await asyncio.sleep(SAFETY_SWEEP_SECONDS)
        reads = await _queue_reads(redis) - before
        runs = _runs(running.worker) - runs_before
    finally:
        await redis.aclose()
    # Polling every 10 ms reads it about 500 times in five seconds. Idle, the worker reads it
    # only around each cron run: the head once before the wait for it, the poll that starts it,
    # polls every 10 ms while it runs, the one after, and the sweep's own look at the queue:
    # two or three reads a run on a busy machine, more where a run takes longer.
    assert reads <= 6 * (runs + 1), (reads, runs)


def test_the_safety_sweeps_run_every_few_seconds_and_upstream_work_each_second(
    settings: Settings,
) -> None:
    """The outbox sweeps are a safety net (docs/webhooks.md and docs/mail.md give the time a lost
    job waits); the upstream work's run is the path a pending top-up takes."""
    jobs = {job.name: job for job in worker_settings(settings)["cron_jobs"]}
    every_few = set(range(0, 60, SAFETY_SWEEP_SECONDS))
    assert jobs["sweep"].second == every_few
    assert jobs["sweep_mail"].second == every_few
    assert jobs["fulfil_due"].second == set(range(60))


async def test_an_idle_worker_wakes_on_an_enqueue_and_on_a_deferred_job(
    start_worker: StartWorker,
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    db: Database,
    redis_url: str,
) -> None:
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    running = await start_worker(worker_idle_poll_seconds=IDLE_POLL)
    redis = running.deps.redis
    waits: list[float] = []
    for n in range(5):
        [delivery_id] = await emit_test_events(db, merchant.merchant_id, 1)
        enqueued = time.monotonic()
        await outbox.enqueue(redis, [delivery_id])

        async def arrived(count: int = n + 1) -> bool:
            return len(receiver.received) == count

        await wait_until(arrived, within=5, interval=0.005)
        waits.append(receiver.received[-1].at - enqueued)
    # Without the signal a start waits for the next cron tick, half a second on average.
    assert statistics.median(waits) < 0.25, waits

    [delivery_id] = await emit_test_events(db, merchant.merchant_id, 1)
    enqueued = time.monotonic()
    await outbox.enqueue_jobs(
        redis, [(delivery_id, 0)], defer_until=utcnow() + timedelta(seconds=1.5)
    )

    async def deferred_arrived() -> bool:
        return len(receiver.received) == 6

    await wait_until(deferred_arrived, within=10, interval=0.005)
    assert 1.4 <= receiver.received[-1].at - enqueued < 3.0


async def test_a_due_job_held_elsewhere_does_not_hide_the_next_deferred_one(
    start_worker: StartWorker,
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    db: Database,
) -> None:
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    running = await start_worker(worker_idle_poll_seconds=IDLE_POLL)
    redis, queue = running.deps.redis, running.worker.queue_name
    # Another worker's job, due and running, at the head of the queue.
    await redis.zadd(queue, {"held-elsewhere": timestamp_ms() - 1_000})
    await redis.set(in_progress_key_prefix + "held-elsewhere", b"1", px=60_000)

    [delivery_id] = await emit_test_events(db, merchant.merchant_id, 1)
    async with loop_lag() as lag:
        enqueued = time.monotonic()
        await outbox.enqueue_jobs(
            redis, [(delivery_id, 0)], defer_until=utcnow() + timedelta(seconds=1.5)
        )

        async def arrived() -> bool:
            return len(receiver.received) == 1

        await wait_until(arrived, within=10, interval=0.005)
    # Waiting on the held job's turn instead would start it at the next cron tick, up to a
    # second late.
    waited = receiver.received[-1].at - enqueued
    assert 1.5 <= waited < 1.5 + 0.25 + lag.worst, (waited, lag.worst)
