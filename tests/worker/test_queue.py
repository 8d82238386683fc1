"""The worker's ARQ subclass: its own running jobs are not re-checked in Redis on every poll."""

import asyncio
from typing import Any

import pytest
from arq.worker import Worker

from worker.queue import DeliveryWorker


async def test_own_running_jobs_are_skipped_before_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    offered: list[list[bytes]] = []

    async def start_jobs(self: Worker, job_ids: list[bytes]) -> None:
        offered.append(job_ids)

    monkeypatch.setattr(Worker, "start_jobs", start_jobs)
    worker: Any = DeliveryWorker.__new__(DeliveryWorker)  # no Redis: only start_jobs runs
    running = asyncio.get_running_loop().create_future()
    worker.tasks = {"dlv:a:0": running}
    await worker.start_jobs([b"dlv:a:0", b"dlv:b:0", b"dlvs:c"])
    assert offered == [[b"dlv:b:0", b"dlvs:c"]]
    running.cancel()
