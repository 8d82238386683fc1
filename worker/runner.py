"""The runner: one loop per kind of background work (``worker.kinds``), leasing its due rows and
running their tries, in every worker process at once.

Each kind's lane asks the store when its next row falls due and sleeps until then, or until a
wake for the kind comes (a gateway's after its commit, ``outbox.WAKE_CHANNEL``, or this process's
own tries'), or ``AITOPUP_WORKER_IDLE_POLL_SECONDS`` at most. Then it leases as many due rows as
it has room for (``Bounds.concurrency`` less the tries still waiting on their far side: a try
that is only being recorded takes no room) in one trip to the store, and runs a try of each.
While a batch fills the room, it leases again as tries end, gathering the room they free for a
few milliseconds, so that a busy lane leases many rows a statement.

Each merchant holds at most ``Bounds.share`` of the room (``Shares``): one merchant's slow far
sides hold that share and no more. A try that waits longer than ``HOLD`` for one of its
merchant's slots is put off (``Kind.put_off``): its row is handed back due a ``HOLD`` later,
untried (no attempt counted; a delivery holding its throttle slot again), or, for an ordered
endpoint's batch, whose other rows are leased with it, its lease is left to lapse; either way the
room it held goes to other merchants' work.

A kind whose rows are partitioned by their key on PostgreSQL (the deliveries) leases and looks
from a floor of the key (``store.queue.floor``: the oldest week holding a pending row), looked at
again once an idle poll, so that neither statement is planned over every week of the history.

Nothing here is in Redis: a wake lost (Redis away, flushed, restarted) costs at most the idle
poll's wait, and a store that fails is waited out with backoff, one log line an outage.

Every wait here but the few milliseconds of ``GATHER`` is on the worker's clock (``Deps.clock``:
the real one, or a test's that it moves on itself), as are the times a lease and a record
write, so a test steps through a schedule, the idle poll and ``HOLD`` without sleeping them.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError

from gateway.outbox import WAKE_CHANNEL, kinds_in, kinds_of
from gateway.store.queue import floor, lease, next_due
from gateway.store.raw import Raw
from gateway.webhooks.shares import Shares

from .deps import Deps
from .kind import Kind

__all__ = ["BUSY_FLOOR", "GATHER", "HOLD", "Lane", "Runner"]

log = logging.getLogger("aitopup.worker")

# The longest a try waits for one of its merchant's slots before it is put off. A burst of one
# merchant's work waits a small part of it; a far side that hangs never frees a slot within it.
HOLD = 1.0
# Rows due but not leased (another worker holds them, on PostgreSQL): looked at again after this.
BUSY_FLOOR = 0.05
# A lease takes at most this many rows: one statement, one transaction.
MAX_LEASE = 500
# The longest a busy lane waits for a quarter of its room to come free before it leases.
GATHER = 0.005
# After a failure of the store or of Redis, the next try comes this soon, then twice as late
# each time, up to the cap.
BACKOFF_FIRST = 0.05
BACKOFF_CAP = 2.0


class Lane:
    """One kind's loop: its room, its merchants' shares and its tries in flight."""

    def __init__(self, kind: Kind, deps: Deps, *, idle_poll: float) -> None:
        self.kind = kind
        self._deps = deps
        self._clock = deps.clock
        self._idle_poll = idle_poll
        bounds = kind.bounds(deps.settings)
        self._room = bounds.concurrency
        self._batch = max(1, bounds.concurrency // 4)
        self._lease_seconds = bounds.lease_seconds
        self.shares = Shares(bounds.share, hold=HOLD, clock=deps.clock)
        self.running: set[asyncio.Task[None]] = set()  # every try not yet recorded
        self.sending: set[asyncio.Task[None]] = set()  # of those, the ones that take room
        self._woken = asyncio.Event()
        self._freed = asyncio.Event()
        self._eager = True  # lease before asking when the next row is due: at start, on a wake
        self._floor = ""  # the kind's floor (``store.queue.floor``), and when it was looked at
        self._floor_at: float | None = None

    def wake(self) -> None:
        self._eager = True
        self._woken.set()

    async def run(self) -> None:
        backoff = 0.0
        while True:
            try:
                await self._turn()
            except Exception as exc:
                if not backoff:
                    log.warning(
                        "%s: the store failed; retrying with backoff",
                        self.kind.name,
                        extra={"error": str(exc) or type(exc).__name__},
                    )
                backoff = min(BACKOFF_CAP, max(BACKOFF_FIRST, 2 * backoff))
                await self._clock.sleep(backoff)
                continue
            if backoff:
                log.warning("%s: the store answers again", self.kind.name)
                backoff = 0.0

    async def _turn(self) -> None:
        free = self._room - len(self.sending)
        if free <= 0:
            self._freed.clear()
            await self._freed.wait()
            return
        if self.sending and free < self._batch:
            free = await self._gather_room(free)
        if not self._eager:
            # Cleared before the look, so a wake or a try ending after it is not missed, and
            # one before it (already looked at) does not end the sleep at once.
            self._woken.clear()
            since = await self._since()
            due = await next_due(self._deps.db, self.kind.queue, self._clock.now(), since)
            # Timed from after the read, so the sleep ends when the row is due.
            wait = self._idle_poll if due is None else (due - self._clock.now()).total_seconds()
            if wait > 0 and not self._eager:
                await self._sleep(min(wait, self._idle_poll))
                return
        self._eager = False
        self._woken.clear()
        leased, items = await self._lease(min(free, MAX_LEASE))
        for item in items:
            at = self.kind.not_before(item)
            if at is None:
                task = asyncio.create_task(self._one(item))
                self.sending.add(task)
            else:
                task = asyncio.create_task(self._later(item, at))
            self.running.add(task)
            task.add_done_callback(self._ended)
        # Counted as leased, not as tried: rows the kind settled or put off in the lease (a
        # throttled endpoint's) took no room, and the rows behind them may be due now.
        if leased == free:
            self._eager = True  # a full batch: more may be due
        elif not leased:
            await self._sleep(BUSY_FLOOR)  # due, but held elsewhere

    async def _gather_room(self, free: int) -> int:
        """While tries run, room freed one try at a time is gathered for up to ``GATHER``
        seconds, or until a quarter of the room is free: a busy lane leases in batches, one
        statement for many rows, not one for each try that ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER
        while free < self._batch and (left := deadline - loop.time()) > 0:
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._freed.wait()
            free = self._room - len(self.sending)
        return free

    async def _sleep(self, seconds: float) -> None:
        """``seconds`` on the clock, or until a wake."""
        if self._woken.is_set():
            return
        slept = asyncio.ensure_future(self._clock.sleep(seconds))
        woken = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait((slept, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            slept.cancel()
            woken.cancel()

    async def _lease(self, limit: int) -> tuple[int, Sequence[Any]]:
        """One trip to the store on the driver: the lease, and what the kind reads with it; how
        many rows were leased, and the tries to make of them."""
        since = await self._since()
        now = self._clock.now()

        async def take(tx: Raw) -> tuple[int, Sequence[Any]]:
            rows = await lease(tx, self.kind.queue, now, self._lease_seconds, limit, since)
            return len(rows), (await self.kind.taken(tx, rows, now) if rows else ())

        # Each statement stands alone: the lease, then reads, then failing what needs no try.
        return await self._deps.db.run(take, each_statement=True)

    async def _since(self) -> str:
        """The kind's floor, looked at again once an idle poll has passed since the last look:
        a row made due below it meanwhile (a replay of an old delivery) waits that long at most,
        as for a wake lost, and the look is not made for each lease."""
        at = self._clock.monotonic()
        if self._floor_at is None or at - self._floor_at >= self._idle_poll:
            self._floor = await floor(self._deps.db, self.kind.queue, self._clock.now())
            self._floor_at = at
        return self._floor

    async def _later(self, item: Any, at: datetime) -> None:
        """``item``'s try once ``at`` has come (``Kind.not_before``, well inside the row's
        lease): room in the lane is taken from then on, not while it waits."""
        wait = (at - self._clock.now()).total_seconds()
        if wait > 0:
            await self._clock.sleep(wait)
        task = asyncio.current_task()
        assert task is not None  # run as a task of ``_turn``'s
        self.sending.add(task)
        await self._one(item)

    async def _one(self, item: Any) -> None:
        task = asyncio.current_task()
        merchant = self.kind.merchant(item)
        if not await self.shares.acquire(merchant):
            try:
                # Due again, untried, after one more hold: by then a slot may be free, where
                # due at once its lease would find the merchant still backed up, again and again.
                due = self._clock.now() + timedelta(seconds=HOLD)
                await self.kind.put_off(self._deps, item, due)
            except Exception:
                log.exception("%s: a put-off row was not handed back", self.kind.name)
            return
        done = False

        def sent() -> None:
            # The far side's part is over: recording it takes neither a connection of the
            # merchant's share nor room in the lane.
            nonlocal done
            if not done:
                done = True
                self.shares.release(merchant)
                self._free(task)

        try:
            woken = await self.kind.attempt(self._deps, item, sent)
        except Exception:
            # Recorded nowhere: its lease lapses and it is tried again.
            log.exception("%s: a try failed before it was recorded", self.kind.name)
            return
        finally:
            sent()
        self._deps.wake(woken)

    def _free(self, task: "asyncio.Task[Any] | None") -> None:
        self.sending.discard(task)
        self._freed.set()
        self._woken.set()  # its row may be due again sooner than the lane's sleep

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        self._free(task)


class Runner:
    """Every kind's lane, and the wakes that reach them from Redis."""

    def __init__(self, deps: Deps, kinds: Sequence[Kind], *, idle_poll: float) -> None:
        self.lanes = {kind.name: Lane(kind, deps, idle_poll=idle_poll) for kind in kinds}
        self._deps = deps
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self, ids: Iterable[str]) -> None:
        """Wakes the lanes of the kinds of outbox rows ``ids``."""
        for name in kinds_of(ids):
            self.wake_kind(name)

    def wake_kind(self, name: str) -> None:
        lane = self.lanes.get(name)
        if lane is not None:
            lane.wake()

    def start(self) -> None:
        self._deps.wake = self.wake
        self._tasks = [asyncio.create_task(lane.run()) for lane in self.lanes.values()]
        self._tasks.append(asyncio.create_task(self._listen()))

    async def stop(self) -> None:
        """The lanes stop and the tries in flight are cancelled: each row's lease lapses, and
        whichever worker finds it due tries it again."""
        running = [task for lane in self.lanes.values() for task in lane.running]
        for task in [*self._tasks, *running]:
            task.cancel()
        await asyncio.gather(*self._tasks, *running, return_exceptions=True)
        self._tasks = []

    async def _listen(self) -> None:
        """Wakes from Redis, each naming one kind or more. Lost while Redis is away: when it
        answers again, every lane looks at its rows at once."""
        backoff = 0.0
        while True:
            try:
                async with self._deps.redis.pubsub() as wakes:
                    await wakes.subscribe(WAKE_CHANNEL)
                    if backoff:
                        backoff = 0.0
                        for lane in self.lanes.values():
                            lane.wake()
                    async for message in wakes.listen():
                        if message.get("type") == "message":
                            for kind in kinds_in(_text(message["data"])):
                                self.wake_kind(kind)
            except (RedisError, OSError):
                backoff = min(BACKOFF_CAP, max(BACKOFF_FIRST, 2 * backoff))
                await self._deps.clock.sleep(backoff)


def _text(data: Any) -> str:
    return data.decode() if isinstance(data, bytes) else str(data)
