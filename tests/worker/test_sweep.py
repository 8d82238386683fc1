"""Nothing lost: the rows are the truth, whatever happens to Redis or to a worker."""

import asyncio
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
from arq import create_pool
from arq.connections import RedisSettings
from arq.constants import default_queue_name, in_progress_key_prefix
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from gateway import outbox
from gateway.store.db import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.redis import RedisServer
from tests.fixtures.webhooks import Receiver, Reply, emit_test_events, fail_leftovers, make_endpoint
from tests.fixtures.workers import StartWorker, spawn_worker
from worker.delivery import Deps
from worker.queue import Load
from worker.store import Store
from worker.sweep import PAGE, oldest_waiting, sweep_once

_D = table_of(WebhookDelivery)
COUNT = 1000


async def outstanding(
    db: Database, redis_url: str, client: httpx.AsyncClient, make_merchant: MakeMerchant, url: str
) -> str:
    """``COUNT`` events, one delivery each, written and enqueued as the gateway does."""
    merchant = await make_merchant()
    endpoint = await make_endpoint(client, merchant, url)
    ids = await emit_test_events(db, merchant.merchant_id, COUNT, redis_url=redis_url)
    assert len(ids) == COUNT
    endpoint_id: str = endpoint["id"]
    return endpoint_id


async def succeeded(db: Database, endpoint_id: str) -> int:
    async with db.read() as conn:
        stmt = select(func.count()).where(
            _D.c.endpoint_id == endpoint_id, _D.c.status == "succeeded"
        )
        return int((await conn.execute(stmt)).scalar_one())


async def test_a_flushed_redis_loses_nothing(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    redis_url: str,
) -> None:
    endpoint_id = await outstanding(db, redis_url, hook_client, make_merchant, receiver.url)
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    assert await redis.dbsize() == 0
    await redis.aclose()
    await start_worker()

    async def all_arrived() -> bool:
        return len(receiver.ids()) == COUNT

    await wait_until(all_arrived, within=60)

    async def all_recorded() -> bool:
        return await succeeded(db, endpoint_id) == COUNT

    await wait_until(all_recorded, within=10)


def _spawn(settings: Settings, folder: Path, name: str) -> "subprocess.Popen[bytes]":
    return spawn_worker(settings, folder, name)


async def test_a_killed_worker_loses_nothing(
    hook_client: httpx.AsyncClient,
    hook_settings: Settings,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    db: Database,
    redis_url: str,
    tmp_path: Path,
) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    await redis.aclose()
    receiver.respond = lambda _: Reply(delay=0.02)
    endpoint_id = await outstanding(db, redis_url, hook_client, make_merchant, receiver.url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        first = _spawn(hook_settings, tmp_path, "first")
        procs.append(first)

        async def started() -> bool:
            return len(receiver.received) >= 50

        await wait_until(started, within=30)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        at_kill = len(receiver.ids())
        assert at_kill < COUNT, "the worker finished before it could be killed"

        procs.append(_spawn(hook_settings, tmp_path, "second"))

        async def all_arrived() -> bool:
            return len(receiver.ids()) == COUNT

        await wait_until(all_arrived, within=60)

        async def all_recorded() -> bool:
            return await succeeded(db, endpoint_id) == COUNT

        await wait_until(all_recorded, within=20)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 10)
        await fail_leftovers(db)


async def test_the_sweep_leaves_a_delivery_whose_job_waits_in_line(
    hook_client: httpx.AsyncClient,
    hook_settings: Settings,
    make_merchant: MakeMerchant,
    db: Database,
    private_redis: RedisServer,
) -> None:
    """A backlog is not re-enqueued: only a job that should have been taken already is swept."""
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, "http://127.0.0.1:9/hook")
    ids = await emit_test_events(db, merchant.merchant_id, 1)
    assert len(ids) == 1
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    deps = Deps(
        settings=hook_settings,
        db=db,
        store=Store(db, lease_seconds=5),
        sealer=Sealer(TEST_SECRET.encode()),
        outbound={},
        redis=pool,
        sending=asyncio.Semaphore(1),
        load=Load(),
    )

    async def overdue_by_a_minute() -> None:
        past = utcnow() - timedelta(minutes=1)
        async with db.transaction() as conn:
            await conn.execute(
                update(_D).where(_D.c.id.in_(ids)).values(next_attempt_at=past, updated_at=past)
            )

    async def waiting_job(job_id: str, due: timedelta) -> None:
        await pool.enqueue_job(
            outbox.DELIVER_JOB, "dlv_other", 0, _job_id=job_id, _defer_until=utcnow() - due
        )

    try:
        await overdue_by_a_minute()
        await waiting_job("newer", timedelta(seconds=1))
        assert await sweep_once(deps) == 1, "due before the oldest waiting job: its job is gone"

        await overdue_by_a_minute()
        await waiting_job("older", timedelta(minutes=2))
        assert await sweep_once(deps) == 0, "the queue is behind: its job is still in line"

        # The older job running, or held by a killed worker: it no longer bounds the sweep.
        await pool.set(in_progress_key_prefix + "older", b"1")
        assert await sweep_once(deps) == 1
    finally:
        await pool.aclose()
        await fail_leftovers(db)


async def test_the_oldest_waiting_job_is_found_behind_running_ones_reading_no_further(
    private_redis: RedisServer,
) -> None:
    """The sweep's line is the oldest due job not running, however many running ones come
    first; and once it has read every due job, it reads the queue no more."""
    redis = Redis.from_url(private_redis.url)

    async def reads() -> int:
        stats = await redis.info("commandstats")
        return int(stats.get("cmdstat_zrangebyscore", {"calls": 0})["calls"])

    async def running(names: list[str], due_ms: int) -> None:
        await redis.zadd(default_queue_name, {name: due_ms + n for n, name in enumerate(names)})
        await redis.mset({in_progress_key_prefix + name: b"1" for name in names})

    try:
        now_ms = int(utcnow().timestamp() * 1000)
        await running(["a", "b", "c"], now_ms - 60_000)
        before = await reads()
        assert await oldest_waiting(redis) is None
        assert await reads() - before == 1  # a short page is the last one

        await running([f"busy{n}" for n in range(PAGE)], now_ms - 50_000)
        waiting = now_ms - 10_000
        await redis.zadd(default_queue_name, {"waiting": waiting})
        before = await reads()
        found = await oldest_waiting(redis)
        assert found is not None and int(found.timestamp() * 1000) == waiting
        assert await reads() - before == 2  # past a full page of running jobs
    finally:
        await redis.aclose()
