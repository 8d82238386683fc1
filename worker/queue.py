"""ARQ's worker, taking only the deliveries it has connections for.

ARQ starts every due job up to ``max_jobs``, and a ``deliver_many`` job carries up to
``outbox.BATCH`` deliveries, so one worker would take a whole backlog (200 jobs: 10,000
deliveries) and queue it behind its own connections. Taken, that backlog is out of reach of every
other worker; and since ARQ marks a taken job as running, the sweep cannot tell its deliveries
from a killed worker's, and re-enqueues them once they are overdue. Here a worker starts a
delivery job only if it fits in its room, the connections (``webhook_max_connections``) not
spoken for by the deliveries it holds: the rest wait in the queue, where any worker can take them
and the sweep sees them waiting, and nothing waits inside the worker for a connection (asyncio's
semaphore walks its waiters on every acquire). A job id tells its size (``outbox.job_size``);
``Load`` counts each delivery down once it is sent (recording it needs no connection).

A job's deliveries may be any merchants', and which they are is known only once taken. Inside
the worker, ``Shares`` gives each merchant at most a share of the connections, so one merchant's
slow receivers hold that share and no more; its further deliveries wait for its own slots, and
are handed back to the queue if they would wait long, so that the room they hold goes to other
merchants' deliveries queued behind them.

A second cost ARQ pays grows with its own concurrency: every poll (each ``poll_delay``, 10 ms
here) reads the queue's head and, for each id, checks in Redis whether it is already running,
three round trips an id, even for jobs this very process is running. Those ids are skipped first.

What of ARQ this relies on (its ``start_jobs`` and ``tasks``) is reached in ``worker._arq`` only.
"""

import asyncio
import functools
from typing import Any

from gateway.outbox import job_size
from gateway.webhooks.shares import Shares

from ._arq import SelectiveWorker

__all__ = ["HOLD", "DeliveryWorker", "Load", "Shares"]

# The longest a delivery waits for one of its merchant's slots before it is handed back to the
# queue. A burst of one merchant's deliveries to a receiver that answers waits a small part of
# it (a few attempts' time: the room is a few shares); a receiver that hangs never frees a slot
# within it. It is also the longest another merchant's delivery waits for the room such a wait
# holds. The delivery waits claimed, so this stays well inside the lease's margin
# (``delivery.LEASE_MARGIN``).
HOLD = 1.0


class Load:
    """Deliveries this process has taken and not yet sent, by job."""

    def __init__(self) -> None:
        self.total = 0
        self._left: dict[str, int] = {}

    def take(self, job_id: str, size: int) -> None:
        self._left[job_id] = size
        self.total += size

    def one_done(self, job_id: str) -> None:
        left = self._left.get(job_id)
        if left:
            self._left[job_id] = left - 1
            self.total -= 1

    def finish(self, job_id: str) -> None:
        self.total -= self._left.pop(job_id, 0)


class DeliveryWorker(SelectiveWorker):
    """Admits a delivery job only while it fits in the room: ``capacity`` less the deliveries
    this process holds (``load``)."""

    def __init__(self, *args: Any, capacity: int, load: Load, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity
        self.load = load

    def admit(self, job_id: str) -> bool:
        # Left waiting in the queue otherwise. A job larger than the whole room still runs,
        # once nothing else is held; a sweep (size 0) is not a delivery and always runs.
        size = job_size(job_id)
        room = self.capacity - self.load.total
        return size <= room or room >= self.capacity

    def started(self, job_id: str, task: asyncio.Task[Any]) -> None:
        # Only a job started here takes room: one another worker holds (running, or a killed
        # worker's) was admitted but not started, and must not use up this worker's room.
        size = job_size(job_id)
        if size:
            self.load.take(job_id, size)
            task.add_done_callback(functools.partial(self._finished, job_id))

    def _finished(self, job_id: str, _: object) -> None:
        self.load.finish(job_id)
