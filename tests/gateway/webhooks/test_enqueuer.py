"""After-commit enqueues: at once when idle, grouped when busy, never raising."""

import asyncio
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings

from gateway import outbox
from gateway.webhooks.enqueuer import Enqueuer
from tests.fixtures.core import wait_until
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
        enqueuer = Enqueuer(pool, linger=60)
        enqueuer.enqueue(["dlv_a"])
        await enqueuer.drain()
        # Within the linger of that enqueue: these wait for it to pass, and go together.
        enqueuer.enqueue(["dlv_b"])
        # One step, not a wait: the enqueue's task starts, and lingers.
        await asyncio.sleep(0)
        enqueuer.enqueue(["dlv_c", "dlv_d"])
        enqueuer.enqueue_jobs([("dlv_e", 2)])
        assert await _jobs(pool) == [(outbox.DELIVER_JOB, ("dlv_a", 0))]
        started = asyncio.get_running_loop().time()
        await enqueuer.drain()  # cuts the linger short
        assert asyncio.get_running_loop().time() - started < 30, "it waited for the linger"
        assert await _jobs(pool) == [
            (outbox.DELIVER_JOB, ("dlv_a", 0)),
            (outbox.DELIVER_MANY_JOB, (["dlv_b", "dlv_c", "dlv_d", "dlv_e"],)),
        ]
    finally:
        await pool.aclose()


async def test_mails_go_together_in_a_lane_of_their_own(private_redis: RedisServer) -> None:
    """Mails linger longer than deliveries, go together as one ``send_mails`` job, and a
    delivery handed in meanwhile does not wait for them."""
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    try:
        enqueuer = Enqueuer(pool, linger=0, mail_linger=60)
        enqueuer.enqueue_jobs([("mail_a", 0)])
        await enqueuer.drain()  # an idle lane enqueues at once
        enqueuer.enqueue_jobs([("mail_b", 0), ("dlv_a", 0)])
        enqueuer.enqueue_jobs([("mail_c", 1)])

        async def delivery_queued() -> bool:
            return (outbox.DELIVER_JOB, ("dlv_a", 0)) in await _jobs(pool)

        await wait_until(delivery_queued, within=30)  # inside the mails' linger
        assert await _jobs(pool) == [
            (outbox.MAIL_JOB, ("mail_a", 0)),
            (outbox.DELIVER_JOB, ("dlv_a", 0)),
        ]
        await enqueuer.drain()
        assert (outbox.MAIL_MANY_JOB, ([("mail_b", 0), ("mail_c", 1)],)) in await _jobs(pool)
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
