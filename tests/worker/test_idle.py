"""An idle worker waits for work instead of polling its queue every 10 ms, and still starts a
delivery as soon as it is enqueued, or a deferred one as soon as it falls due."""

import asyncio
import statistics
import time
from datetime import timedelta

import httpx
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from gateway import outbox
from gateway.clock import utcnow
from gateway.store.db import Database
from tests.fixtures.core import loop_lag, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker

# Far longer than any wait below: only the enqueue's signal or the queue's next due job can
# explain a quick start.
IDLE_POLL = 30.0


async def _queue_reads(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    reads = ("cmdstat_zrangebyscore", "cmdstat_zrange")
    return sum(int(stats.get(read, {"calls": 0})["calls"]) for read in reads)


async def test_an_idle_worker_reads_its_queue_rarely(
    start_worker: StartWorker, redis_url: str
) -> None:
    await start_worker(worker_idle_poll_seconds=IDLE_POLL)
    redis = Redis.from_url(redis_url)
    try:
        before = await _queue_reads(redis)
        await asyncio.sleep(3.0)  # a window measured, not work awaited
        reads = await _queue_reads(redis) - before
    finally:
        await redis.aclose()
    # Polling every 10 ms reads it about 300 times in three seconds; idle, the worker reads it
    # around the sweep it runs each second (polling as usual while that job runs) and little
    # else: a dozen reads on a quiet machine, a few dozen on a busy one, where each sweep takes
    # longer and the polls around it add up.
    assert reads < 150, reads


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
