"""The worker's ARQ subclass: it takes only the deliveries it has room for, and does not re-check
its own running jobs in Redis on every poll."""

import asyncio
from typing import Any

import httpx
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from gateway import outbox
from gateway.store.db import Database
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, Reply, emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker
from worker.queue import DeliveryWorker, Load
from worker.sweep import oldest_waiting


def _bare_worker(
    monkeypatch: pytest.MonkeyPatch, capacity: int, elsewhere: frozenset[bytes] = frozenset()
) -> tuple[Any, list[bytes]]:
    """A ``DeliveryWorker`` without Redis, whose ARQ side starts each job it is offered as a
    task that runs until cancelled, except those held ``elsewhere``; what it was offered."""
    offered: list[bytes] = []
    loop = asyncio.get_running_loop()

    async def start_jobs(self: Worker, job_ids: list[bytes]) -> None:
        offered.extend(job_ids)
        for raw in job_ids:
            if raw not in elsewhere:
                self.tasks[raw.decode()] = loop.create_future()  # type: ignore[assignment]

    monkeypatch.setattr(Worker, "start_jobs", start_jobs)
    worker: Any = DeliveryWorker.__new__(DeliveryWorker)
    worker.tasks, worker.capacity, worker.load = {}, capacity, Load()
    worker.job_counter = 0  # what ``ResilientWorker.start_jobs`` reads of ARQ's own state
    return worker, offered


async def load_falls_to(worker: Any, total: int) -> None:
    """A job's room comes free from its task's done callback, a turn of the loop after it ends."""

    async def fallen() -> bool:
        return bool(worker.load.total == total)

    await wait_until(fallen)


async def poll(worker: Any, offered: list[bytes], queue: list[bytes]) -> list[bytes]:
    """What one poll over ``queue`` offered to ARQ."""
    offered.clear()
    await worker.start_jobs(queue)
    return list(offered)


async def test_own_running_jobs_are_skipped_before_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    worker, offered = _bare_worker(monkeypatch, capacity=100)
    assert await poll(worker, offered, [b"dlv:a:0"]) == [b"dlv:a:0"]
    queue = [b"dlv:a:0", b"dlv:b:0", b"dlvs:2:c"]
    assert await poll(worker, offered, queue) == [b"dlv:b:0", b"dlvs:2:c"]
    for task in worker.tasks.values():
        task.cancel()


async def test_delivery_jobs_start_only_when_they_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    worker, offered = _bare_worker(monkeypatch, capacity=100)
    queue = [b"dlvs:50:a", b"dlvs:50:b", b"dlvs:50:c", b"dlv:d:0", b"cron:sweep:1"]
    # a and b fill the room; the sweep is not a delivery and always runs.
    assert await poll(worker, offered, queue) == [b"dlvs:50:a", b"dlvs:50:b", b"cron:sweep:1"]
    assert worker.load.total == 100
    assert await poll(worker, offered, [b"dlvs:50:c", b"dlv:d:0"]) == []

    worker.load.one_done("dlvs:50:a")  # room for one delivery: d fits, c does not
    assert await poll(worker, offered, [b"dlvs:50:c", b"dlv:d:0"]) == [b"dlv:d:0"]
    assert worker.load.total == 100

    worker.tasks["dlvs:50:b"].cancel()  # b over, however it ended: its room is free again
    await load_falls_to(worker, 50)
    assert await poll(worker, offered, [b"dlvs:50:c"]) == [b"dlvs:50:c"]
    for task in worker.tasks.values():
        task.cancel()


async def test_a_job_larger_than_the_room_runs_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    worker, offered = _bare_worker(monkeypatch, capacity=2)
    assert await poll(worker, offered, [b"dlvs:50:a", b"dlv:b:0"]) == [b"dlvs:50:a"]
    assert await poll(worker, offered, [b"dlv:b:0"]) == []
    worker.tasks["dlvs:50:a"].cancel()
    await load_falls_to(worker, 0)
    assert await poll(worker, offered, [b"dlv:b:0"]) == [b"dlv:b:0"]
    for task in worker.tasks.values():
        task.cancel()


async def test_a_job_held_elsewhere_takes_no_room(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs a killed worker still holds head the queue until their mark expires; the jobs
    behind them must still be taken."""
    held = frozenset({b"dlvs:50:x", b"dlvs:50:y"})
    worker, offered = _bare_worker(monkeypatch, capacity=100, elsewhere=held)
    queue = [b"dlvs:50:x", b"dlvs:50:y", b"dlvs:50:a", b"dlvs:50:b"]
    assert await poll(worker, offered, queue) == queue
    assert set(worker.tasks) == {"dlvs:50:a", "dlvs:50:b"}
    assert worker.load.total == 100
    for task in worker.tasks.values():
        task.cancel()


def test_a_job_id_tells_its_size() -> None:
    batch = [(f"dlv_{n}", 0) for n in range(7)]
    assert outbox.job_size(outbox.batch_job_id(batch)) == 7
    assert outbox.job_size(outbox.job_id("dlv_x", 3)) == 1
    assert outbox.job_size("dlvs:0123abcd") == outbox.BATCH  # an id of the earlier form
    assert outbox.job_size("cron:sweep:1700000000000") == 0


async def test_what_a_worker_has_no_room_for_waits_in_the_queue(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    redis_url: str,
) -> None:
    """Six jobs for a worker with two connections: two are taken, four stay in the queue, where
    other workers can take them and the sweep sees them waiting, and none is lost."""
    running = await start_worker(webhook_max_connections=2)
    receiver.respond = lambda _: Reply(delay=0.3)
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    ids = await emit_test_events(db, merchant.merchant_id, 6)
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        for delivery_id in ids:
            await outbox.enqueue(pool, [delivery_id])

        async def two_sent() -> bool:
            return len(receiver.received) >= 2

        await wait_until(two_sent)
        assert running.worker.load.total <= 2
        assert await oldest_waiting(pool) is not None

        async def all_arrived() -> bool:
            return len(receiver.ids()) == 6

        await wait_until(all_arrived)
    finally:
        await pool.aclose()
