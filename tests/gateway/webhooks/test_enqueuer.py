"""After-commit enqueues: at once when idle, grouped when busy, never raising."""

import asyncio
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings

from gateway import outbox
from gateway.webhooks.enqueuer import Enqueuer
from tests.fixtures.redis import RedisServer


async def _jobs(pool: Any) -> list[tuple[str, tuple[Any, ...]]]:
    jobs = sorted(await pool.queued_jobs(), key=lambda job: job.enqueue_time)
    return [(job.function, job.args) for job in jobs]


async def test_an_idle_enqueuer_enqueues_at_once(private_redis: RedisServer) -> None:
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    try:
        enqueuer = Enqueuer(pool, linger=60)
        started = asyncio.get_running_loop().time()
        enqueuer.enqueue(["dlv_a"])
        await enqueuer.drain()
        assert asyncio.get_running_loop().time() - started < 30, "it waited for the linger"
        assert await _jobs(pool) == [(outbox.DELIVER_JOB, ("dlv_a", 0))]
    finally:
        await pool.aclose()


async def test_deliveries_handed_in_while_busy_go_as_one_job(private_redis: RedisServer) -> None:
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    try:
        enqueuer = Enqueuer(pool, linger=0.2)
        enqueuer.enqueue(["dlv_a"])
        await enqueuer.drain()
        # Within the linger of that enqueue: these wait for it to pass, and go together.
        enqueuer.enqueue(["dlv_b"])
        await asyncio.sleep(0)  # the enqueue is under way, lingering
        enqueuer.enqueue(["dlv_c", "dlv_d"])
        enqueuer.enqueue_jobs([("dlv_e", 2)])
        await enqueuer.drain()
        assert await _jobs(pool) == [
            (outbox.DELIVER_JOB, ("dlv_a", 0)),
            (outbox.DELIVER_MANY_JOB, (["dlv_b", "dlv_c", "dlv_d", "dlv_e"],)),
        ]
    finally:
        await pool.aclose()


async def test_an_unreachable_redis_fails_no_request(private_redis: RedisServer) -> None:
    """Best effort: the rows are written and the worker's sweep finds them."""
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    private_redis.stop()
    try:
        enqueuer = Enqueuer(pool)
        enqueuer.enqueue(["dlv_a", "dlv_b"])
        await enqueuer.drain()
    finally:
        await pool.aclose()
