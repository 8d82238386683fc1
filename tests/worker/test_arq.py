"""What ``worker._arq`` reaches of ARQ's worker is still there and still behaves so: these fail
first when an upgrade of arq moves it."""

import asyncio
import inspect
import typing
import uuid
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker, func

from gateway import outbox
from gateway.redis_client import redis_settings
from tests.fixtures.core import wait_until
from tests.fixtures.redis import RedisServer
from worker._arq import CLOSE_WITHIN, REDIS_DOWN, SelectiveWorker

# A delivery job's id, in the layout ``DeliveryWorker`` reads its size from.
DELIVERY = outbox.job_id("dlv_probe", 0)


async def _probe(ctx: dict[str, Any]) -> str:
    return "ran"


def test_start_jobs_takes_a_list_of_raw_ids() -> None:
    reached = Worker.start_jobs
    assert inspect.iscoroutinefunction(reached)
    assert list(inspect.signature(reached).parameters) == ["self", "job_ids"]
    assert typing.get_type_hints(reached) == {"job_ids": list[bytes], "return": type(None)}
    # The override keeps the signature it overrides.
    assert inspect.signature(SelectiveWorker.start_jobs) == inspect.signature(reached)


async def test_a_worker_keeps_its_running_jobs_in_tasks(redis_url: str) -> None:
    worker = Worker(
        [func(_probe, name="probe")],
        redis_settings=RedisSettings.from_dsn(redis_url),
        handle_signals=False,
    )
    assert worker.tasks == {}
    assert isinstance(worker.tasks, dict)
    # What ``WakingWorker`` reads to decide whether it is idle and where to look.
    assert worker.burst is False
    assert worker.queue_name == "arq:queue"
    assert inspect.iscoroutinefunction(Worker._poll_iteration)
    assert list(inspect.signature(Worker._poll_iteration).parameters) == ["self"]
    assert isinstance(inspect.getattr_static(Worker, "pool"), property)


class _Recording(SelectiveWorker):
    """Passes over ``probe:later`` the first time it is offered, and records the rest."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offered: list[str] = []
        self.started_tasks: dict[str, asyncio.Task[Any]] = {}

    def admit(self, job_id: str) -> bool:
        first = job_id not in self.offered
        self.offered.append(job_id)
        return not (job_id == "probe:later" and first)

    def started(self, job_id: str, task: asyncio.Task[Any]) -> None:
        assert self.tasks[job_id] is task
        self.started_tasks[job_id] = task


async def test_a_poll_offers_the_enqueued_ids_and_a_job_passed_over_stays_queued(
    redis_url: str,
) -> None:
    """One real queue: each poll hands ``start_jobs`` the ids as they were enqueued; a job
    ARQ's own ``start_jobs`` started is in ``tasks`` when it returns; a job passed over is
    offered again on a later poll, so it was left in the queue."""
    queue = f"arq:adapter-probe:{uuid.uuid4().hex}"
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        for job_id in (DELIVERY, "probe:later"):
            assert await pool.enqueue_job("probe", _job_id=job_id, _queue_name=queue)
        worker = _Recording(
            [func(_probe, name="probe")],
            redis_pool=pool,
            queue_name=queue,
            burst=True,
            poll_delay=0,
            keep_result=0,
            handle_signals=False,
        )
        assert await worker.run_check() == 2
    finally:
        await pool.aclose()
    assert set(worker.offered) == {DELIVERY, "probe:later"}
    assert outbox.job_size(DELIVERY) == 1
    assert worker.offered.count("probe:later") == 2
    assert set(worker.started_tasks) == {DELIVERY, "probe:later"}
    assert all(task.result() is None for task in worker.started_tasks.values())


def test_what_resilient_worker_reaches_is_there(redis_url: str) -> None:
    reached = Worker._poll_iteration
    assert inspect.iscoroutinefunction(reached)
    assert list(inspect.signature(reached).parameters) == ["self"]
    worker = Worker(
        [func(_probe, name="probe")],
        redis_settings=RedisSettings.from_dsn(redis_url),
        handle_signals=False,
        on_shutdown=_shutdown_probe,
    )
    assert worker.job_counter == 0
    assert isinstance(worker.sem, asyncio.BoundedSemaphore)
    assert isinstance(worker.health_check_key, str)
    assert worker._pool is None
    assert worker.on_shutdown is _shutdown_probe
    assert isinstance(worker.ctx, dict)


async def _shutdown_probe(ctx: dict[str, Any]) -> None:
    ctx["closed"] = True


async def test_a_job_slot_taken_as_redis_fails_is_given_back(
    private_redis: RedisServer,
) -> None:
    """ARQ's ``start_jobs`` keeps the slot it took for a job when Redis fails under it: after
    ``max_jobs`` such failures a worker would take no job again."""
    worker = SelectiveWorker(
        [func(_probe, name="probe")],
        redis_settings=RedisSettings.from_dsn(private_redis.url),
        handle_signals=False,
        max_jobs=2,
    )
    worker._pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    try:
        private_redis.stop()
        for _ in range(3):
            with pytest.raises(REDIS_DOWN):
                await worker.start_jobs([b"probe:1"])
        assert worker.job_counter == 0
        assert worker.sem._value == 3  # max_jobs + 1, as ARQ makes it
    finally:
        await worker._pool.aclose()


async def test_close_runs_the_shutdown_hook_without_redis(private_redis: RedisServer) -> None:
    worker = SelectiveWorker(
        [func(_probe, name="probe")],
        redis_settings=RedisSettings.from_dsn(private_redis.url),
        handle_signals=False,
        on_shutdown=_shutdown_probe,
    )
    worker._pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    private_redis.stop()
    async with asyncio.timeout(CLOSE_WITHIN):
        await worker.close()
    assert worker.ctx["closed"] is True
    assert worker._pool is None


async def test_jobs_that_ended_while_redis_was_away_do_not_hold_up_the_next_poll(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each ran, but ARQ could not record its end and re-raises that Redis error as it reaps the
    task, one task a poll: each would be an outage of its own, with its backoff."""
    running = 0
    release = asyncio.Event()

    async def held(ctx: dict[str, Any]) -> None:
        nonlocal running
        running += 1
        await release.wait()

    settings = redis_settings(private_redis.url)
    worker = SelectiveWorker(
        [func(held, name="held")],
        redis_settings=settings,
        handle_signals=False,
        idle_poll=0.01,
    )
    worker._pool = await create_pool(settings)
    try:
        for n in range(5):
            await worker._pool.enqueue_job("held", _job_id=f"held:{n}")
        await worker._poll_iteration()

        async def all_running() -> bool:
            return running == 5

        await wait_until(all_running, within=10)
        await asyncio.to_thread(private_redis.stop)
        release.set()
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        assert all(isinstance(t.exception(), REDIS_DOWN) for t in worker.tasks.values())
        await asyncio.to_thread(private_redis.start)

        await worker._poll_iteration()
        assert worker.tasks == {}
        assert not [r for r in caplog.records if r.getMessage().startswith("Redis unavailable")]
    finally:
        await worker._pool.aclose()
