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
from collections import deque
from typing import Any

from gateway.outbox import job_size

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


class Shares:
    """Each merchant's share of a worker's connections: at most ``each`` of its attempts in
    flight at once.

    ``acquire`` answers at once while the merchant has a slot free. Otherwise the delivery waits
    for that merchant's next free slot, first come first served, while other merchants' go
    ahead; a slot freed goes straight to the merchant's next waiter. A wait lasts at most
    ``hold`` seconds: past it ``acquire`` answers False, the caller puts the delivery off, and so
    does every later delivery of that merchant (at once, without waiting) until one of its slots
    comes free with nobody waiting for it. Waits are timed by one timer per merchant that has
    any, not one per wait."""

    def __init__(self, each: int, *, hold: float = HOLD) -> None:
        self.each = each
        self._hold = hold
        self._busy: dict[str, int] = {}
        self._waiting: dict[str, deque[tuple[float, asyncio.Future[bool]]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._backed_up: set[str] = set()

    def in_flight(self, key: str) -> int:
        return self._busy.get(key, 0)

    def waiting(self, key: str) -> int:
        """Waits of ``key`` not yet answered (a cancelled one counts until a release skips it)."""
        return len(self._waiting.get(key, ()))

    async def acquire(self, key: str) -> bool:
        """True: a slot is held, until ``release(key)``. False: put the delivery off."""
        busy = self._busy.get(key, 0)
        if busy < self.each:
            self._busy[key] = busy + 1
            return True
        if key in self._backed_up:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = deque()
            self._timers[key] = loop.call_later(self._hold, self._expire, key)
        waiting.append((loop.time() + self._hold, waiter))
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release(key)  # a slot handed over as the wait was cancelled: pass it on
            raise

    def release(self, key: str) -> None:
        waiting = self._waiting.get(key)
        while waiting:
            _, waiter = waiting.popleft()
            if not waiter.done():  # a cancelled wait is done: skipped
                waiter.set_result(True)  # the slot passes on, still counted as busy
                return
        self._stop_waiting(key)
        self._backed_up.discard(key)
        busy = self._busy[key] - 1
        if busy:
            self._busy[key] = busy
        else:
            del self._busy[key]

    def _expire(self, key: str) -> None:
        waiting = self._waiting.get(key)
        loop = asyncio.get_running_loop()
        now = loop.time()
        while waiting and waiting[0][0] <= now:
            _, waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(False)
                self._backed_up.add(key)
        if waiting:
            self._timers[key] = loop.call_later(waiting[0][0] - now, self._expire, key)
        else:
            self._timers.pop(key, None)
            self._waiting.pop(key, None)

    def _stop_waiting(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._waiting.pop(key, None)


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
