"""A worker that must stop stops: SIGTERM ends it promptly when idle, at its bound when its stop
hangs, and while it waits out a Redis outage; one that cannot reach Redis at its start exits
non-zero, saying so in one JSON line. ``python -m worker`` as a process, on a Redis of the
test's own. Their subject is the process, not a store: on SQLite alone (tests/conftest.py)."""

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.values.settings import Settings
from tests.fixtures.core import wait_until
from tests.fixtures.redis import RedisServer, crash
from tests.fixtures.workers import log_lines, spawn_worker, stopped_within
from worker.service import STOP_WITHIN

HEALTH_KEY = "arq:queue:health-check"


async def started(redis_url: str, proc: "subprocess.Popen[bytes]") -> None:
    """Until the worker has polled its queue once (ARQ's health-check key is set)."""
    redis = Redis.from_url(redis_url)

    async def polled() -> bool:
        assert proc.poll() is None, "the worker exited"
        return bool(await redis.exists(HEALTH_KEY))

    try:
        await wait_until(polled, within=30, interval=0.1)
    finally:
        await redis.aclose()


async def test_sigterm_ends_an_idle_worker_promptly(
    settings: Settings, private_redis: RedisServer, tmp_path: Path
) -> None:
    worker = spawn_worker(
        settings.model_copy(update={"redis_url": private_redis.url}), tmp_path, "w"
    )
    await started(private_redis.url, worker)
    worker.send_signal(signal.SIGTERM)
    assert await stopped_within(worker, 5) == 0
    log_lines(tmp_path, "w")


async def test_sigterm_ends_a_worker_whose_stop_hangs(
    settings: Settings, private_redis: RedisServer, tmp_path: Path
) -> None:
    """A stop that never ends is cut off at its bound: the process exits, saying so, and its
    work in hand is left to its leases."""
    worker = spawn_worker(
        settings.model_copy(update={"redis_url": private_redis.url}),
        tmp_path,
        "w",
        module="tests.fixtures.stuck_worker",
    )
    await started(private_redis.url, worker)
    worker.send_signal(signal.SIGTERM)
    assert await stopped_within(worker, STOP_WITHIN + 3) == 0
    said = [line["msg"] for line in log_lines(tmp_path, "w")]
    assert any("stopped with work in hand" in message for message in said), said


async def test_sigterm_ends_a_worker_waiting_out_an_outage(
    settings: Settings, private_redis: RedisServer, tmp_path: Path
) -> None:
    worker = spawn_worker(
        settings.model_copy(update={"redis_url": private_redis.url}), tmp_path, "w"
    )
    await started(private_redis.url, worker)
    await asyncio.to_thread(crash, private_redis)

    async def waiting_out() -> bool:
        assert worker.poll() is None, "the worker exited when Redis went away"
        return any(line["msg"].startswith("Redis unavailable") for line in log_lines(tmp_path, "w"))

    await wait_until(waiting_out, within=10, interval=0.1)
    # Still running two seconds later: the outage is waited out, not a reason to stop. The
    # wait ends the moment the process exits, which fails the test.
    with pytest.raises(subprocess.TimeoutExpired):
        await asyncio.to_thread(worker.wait, 2)
    worker.send_signal(signal.SIGTERM)
    assert await stopped_within(worker, 5) == 0
    log_lines(tmp_path, "w")


async def test_a_worker_that_cannot_reach_redis_exits_non_zero_with_one_json_line(
    settings: Settings, tmp_path: Path, idle_port: int
) -> None:
    nowhere = f"redis://127.0.0.1:{idle_port}/0"
    worker = spawn_worker(settings.model_copy(update={"redis_url": nowhere}), tmp_path, "w")
    assert await stopped_within(worker, 30) == 1
    lines = log_lines(tmp_path, "w")
    last = lines[-1]
    assert last["level"] == "critical"
    assert last["logger"] == "aitopup.worker"
    assert last["msg"].startswith("worker stopped")
    assert "exc" in last  # the traceback is in the line, not beside it
    assert [line for line in lines if line["level"] == "critical"] == [last]
