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

``tests/worker/test_arq.py`` fails if either moves (signature, attribute, and one real job through
a poll), and ``pyproject.toml`` bounds arq below its next minor release.
"""

import asyncio
from typing import Any

from arq.worker import Worker

__all__ = ["SelectiveWorker"]


class SelectiveWorker(Worker):
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
