"""ARQ's worker, minus a cost that grows with its own concurrency.

A job stays in ARQ's queue until it finishes, and every poll (each ``poll_delay``, 10 ms here)
reads the queue's head and, for each id, checks in Redis whether it is already running: three
round trips an id. With 200 jobs in flight that is hundreds of round trips a poll for jobs this
very process is running: over the delivery benchmark, a third of the worker's CPU time. The ids
of this worker's own running jobs are skipped before that check; jobs other workers run still
get it.
"""

from arq.worker import Worker

__all__ = ["DeliveryWorker"]


class DeliveryWorker(Worker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        running = self.tasks
        await super().start_jobs([i for i in job_ids if i.decode() not in running])
