"""What a kind of background work is to the runner (``worker.runner``), and the two shapes most
kinds take: ``RowKind``, a queue of rows, a handler and a retry schedule, recorded here; and
``SelfRecorded``, a queue of rows whose try records itself, as a transition of its own.

A kind is a row shape and a handler, nothing more: leasing its due rows, bounding how many run
at once, sharing them between merchants and waking for them are the runner's, the same for every
kind; when a failed try is tried again and when it is given up is ``store.queue.next_try``, and
how a try is recorded is ``store.queue``'s one record, whoever writes it.
"""

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

from gateway.store.queue import Queue, give_back, next_try, settle
from gateway.store.raw import Raw
from gateway.values.settings import Settings

from .deps import Deps

__all__ = ["Bounds", "Handler", "Kind", "Leased", "RowKind", "SelfRecorded", "Try"]

log = logging.getLogger("aitopup.worker")


@dataclass(frozen=True, slots=True)
class Bounds:
    """``concurrency``: a process's tries in flight at once; ``share``: of those, one
    merchant's at most; ``lease_seconds``: how long a leased row stays a worker's, past any
    try's own time bound, before another may take it."""

    concurrency: int
    share: int
    lease_seconds: float


class Kind(Protocol):
    """A kind of background work. ``name`` is its wake's (``outbox.kind_of``)."""

    @property
    def name(self) -> str: ...

    @property
    def queue(self) -> Queue: ...

    def bounds(self, settings: Settings) -> Bounds: ...

    async def taken(self, tx: Raw, rows: list[SimpleNamespace], now: datetime) -> Sequence[Any]:
        """What a try of each leased row needs, read in the lease's transaction (on the driver,
        ``store.raw``); a row that needs no try after all is settled here and left out."""
        ...

    def merchant(self, item: Any) -> str:
        """Whose work it is, for the merchants' shares."""
        ...

    def not_before(self, item: Any) -> datetime | None:
        """When a try of ``item`` may begin, at the soonest (``None``: at once). Until then it
        waits taking neither room in the lane nor a place in its merchant's share."""
        ...

    async def attempt(self, deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
        """One try, made and recorded; the ids of the outbox rows it wrote (to wake for).
        ``sent``: called once the far side's part is over, before the record, so the room the
        try held goes to the next one while it is written."""
        ...

    async def put_off(self, deps: Deps, item: Any, due: datetime) -> None:
        """``item`` was not tried (its merchant's share stayed full): hand its row back, due at
        ``due``, or leave its lease to lapse where the kind's rows hold more than the common
        shape."""
        ...


# A try of a row of the common shape: ``None`` when it is done, else what went wrong.
Handler = Callable[[Deps, Any], Awaitable[str | None]]
# A try that records itself (``Kind.attempt``'s shape).
Try = Callable[[Deps, Any, Callable[[], None]], Awaitable[Iterable[str]]]


class Leased:
    """A kind whose tries take its rows as leased, each its merchant's (``merchant_id``)."""

    __slots__ = ()
    queue: Queue

    async def taken(self, tx: Raw, rows: list[SimpleNamespace], now: datetime) -> Sequence[Any]:
        return rows

    def merchant(self, item: Any) -> str:
        return str(item.merchant_id or "")

    def not_before(self, item: Any) -> datetime | None:
        return None

    async def put_off(self, deps: Deps, item: Any, due: datetime) -> None:
        # Due again soon, rather than when its lease would have lapsed (a mail's is minutes).
        async with deps.db.transaction() as conn:
            await give_back(conn, self.queue, item, deps.clock.now(), due)


@dataclass(frozen=True, slots=True)
class SelfRecorded(Leased):
    """A kind whose try (``tries``) records itself, as a transition of its row written with
    what it did (through ``queue.settle``, the common record). ``concurrency`` tries in flight
    a process, one merchant's as many: each far side bounds its own merchants' share."""

    name: str
    queue: Queue
    tries: Try
    concurrency: int
    lease_seconds: Callable[[Settings], float]

    def bounds(self, settings: Settings) -> Bounds:
        return Bounds(
            concurrency=self.concurrency,
            share=self.concurrency,
            lease_seconds=self.lease_seconds(settings),
        )

    async def attempt(self, deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
        return await self.tries(deps, item, sent)


@dataclass(frozen=True, slots=True)
class RowKind(Leased):
    """A kind whose try is its handler and whose record is the common one (``queue.settle``):
    done, due again on the kind's schedule, or failed once the schedule is spent. ``done``:
    more columns a finished row sets, given the time it finished."""

    name: str
    queue: Queue
    handler: Handler
    delays: Callable[[Settings], Sequence[float]]
    bounds_of: Callable[[Settings], Bounds]
    done: Callable[[datetime], dict[str, Any]] | None = None

    def bounds(self, settings: Settings) -> Bounds:
        return self.bounds_of(settings)

    async def attempt(self, deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
        try:
            error = await self.handler(deps, item)
        except Exception as exc:  # a bug or a bad setting: recorded and retried, never lost
            log.exception("%s %s: the try crashed", self.name, getattr(item, self.queue.key))
            error = f"internal: {type(exc).__name__}"
        sent()
        finished = deps.clock.now()
        number = int(item.attempts) + 1
        at = None if error is None else next_try(self.delays(deps.settings), number, finished)
        done = self.done(finished) if self.done is not None else None
        async with deps.db.transaction() as conn:
            await settle(conn, self.queue, item, error=error, at=at, now=finished, done=done)
        return ()
