"""Rows are the queue: the one definition of leasing due work, of when it is tried again, and of
recording a try on a row of the common shape.

Every kind of background work (the worker's ``worker.kinds``) is a table whose rows carry the
same columns: ``status`` (the kind's due status while there is work to do), ``next_attempt_at``
(when it is due; while a worker holds it, when that worker's lease ends), a lease stamp
(``generation``, bumped by every lease), ``attempts``, ``last_error``, ``merchant_id`` and
``updated_at``. A worker leases due rows in one statement (``lease``): each gets a fresh stamp
and is not due again until its lease ends, so of two workers exactly one has it (on PostgreSQL
the rows another lease holds are skipped, ``FOR UPDATE SKIP LOCKED``; SQLite's one writer takes
leases one at a time), and a worker killed mid-try leaves a lease that lapses into the next
one's hands. A try is recorded only while its stamp holds (``settle``): a holder whose lease
lapsed and was taken again records nothing.

Redis plays no part here: a flushed or restarted Redis loses no work, since the rows are read
again.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Integer, Table, Update, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .compose import param
from .engine import Database
from .raw import Raw, Statement
from .types import UTCDateTime

__all__ = ["Queue", "lease", "next_due", "next_try", "settle"]


@dataclass(frozen=True, eq=False)
class Queue:
    """A kind's rows: its table, the status its due rows have, and those it ends in.

    ``where``: what else a due row meets (staging mail is never sent). ``stamp``: the column a
    lease bumps and a record checks."""

    table: Table
    due: str = "pending"
    done: str = "done"
    failed: str = "failed"
    key: str = "id"
    stamp: str = "generation"
    where: Sequence[ColumnElement[bool]] = field(default_factory=tuple)

    def is_due(self, now: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        c = self.table.c
        return [c.status == self.due, c.next_attempt_at <= now, *self.where]

    @cached_property
    def leasing(self) -> Statement:
        """``lease``'s one statement, compiled once per dialect, on the driver."""
        return Statement.of(_leasing(self))

    @cached_property
    def next_due(self) -> Statement:
        c = self.table.c
        return Statement.of(
            select(func.min(c.next_attempt_at).label("due")).where(
                c.status == self.due, *self.where
            )
        )

    @cached_property
    def times(self) -> tuple[str, ...]:
        """Its timestamp columns, which the driver hands back as SQLite stored them."""
        return tuple(c.name for c in self.table.c if isinstance(c.type, UTCDateTime))


def _leasing(queue: Queue) -> Update:
    c = queue.table.c
    now = param("now", UTCDateTime())
    due = queue.is_due(now)
    # Materialized, so it runs once: as a plain subquery PostgreSQL may run it again for each
    # row it updates, each time skipping what the last run locked, and lease past ``limit``.
    oldest = (
        select(c[queue.key])
        .where(*due)
        .order_by(c.next_attempt_at)
        .limit(param("limit", Integer()))
        .with_for_update(skip_locked=True)  # PostgreSQL's; SQLite's writer is one at a time
        .cte("oldest")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(queue.table)
        .where(c[queue.key].in_(select(oldest.c[queue.key])), *due)
        .values(
            {
                queue.stamp: c[queue.stamp] + 1,
                "next_attempt_at": param("until", UTCDateTime()),
                "updated_at": now,
            }
        )
        .returning(*c)
    )


async def lease(
    tx: Raw, queue: Queue, now: datetime, seconds: float, limit: int
) -> list[SimpleNamespace]:
    """Up to ``limit`` due rows, oldest first, leased for ``seconds`` in ``tx`` (a work of
    ``Database.run``): each as it now stands (its stamp bumped), its columns as attributes."""
    until = now + timedelta(seconds=seconds)
    found = await tx.fetch(queue.leasing, {"now": now, "until": until, "limit": limit})
    times = queue.times
    for row in found:
        for name in times:
            row[name] = tx.timestamp(row[name])
    return [SimpleNamespace(**row) for row in found]


async def next_due(db: Database, queue: Queue, now: datetime) -> datetime | None:
    """When the next row falls due (now or earlier: one is due); ``None`` when no work is
    waiting. One read of the kind's due index."""

    async def read(tx: Raw) -> datetime | None:
        found = await tx.fetchrow(queue.next_due, {})
        return None if found is None else tx.timestamp(found["due"])

    return await db.run(read, read_only=True)


def next_try(
    delays: Sequence[float], number: int, finished: datetime, asked: float | None = None
) -> datetime | None:
    """When try ``number + 1`` is due after try ``number`` (counted from 1) failed and finished
    at ``finished``; ``None`` when the schedule is spent and the work is given up. ``delays[i]``
    is the delay before try ``i + 1``, so ``delays[0]`` is the first try's and the schedule
    allows ``len(delays)`` tries. ``asked``: a far side's own wish (``Retry-After``), honoured
    when it is later than the schedule's."""
    if number >= len(delays):
        return None
    return finished + timedelta(seconds=max(delays[number], asked or 0.0))


async def settle(
    conn: AsyncConnection,
    queue: Queue,
    row: Any,
    *,
    error: str | None,
    at: datetime | None,
    now: datetime,
    counted: bool = True,
    done: dict[str, Any] | None = None,
) -> bool:
    """Record a try of the leased ``row`` (a row of ``lease``, or anything with its key and
    stamp as attributes): done (``error`` is ``None``), due again at ``at``,
    or failed for good (``at`` is ``None``). ``counted``: the try counts against the schedule.
    ``done``: more columns a finished row sets. Whether the lease still held."""
    c = queue.table.c
    values: dict[str, Any] = {"updated_at": now, "last_error": error}
    if queue.stamp == "attempts":  # counted by the lease: a try that does not count is given back
        if not counted:
            values["attempts"] = c.attempts - 1
    elif counted:
        values["attempts"] = c.attempts + 1
    if error is None:
        values |= {"status": queue.done, "next_attempt_at": None, **(done or {})}
    elif at is None:
        values |= {"status": queue.failed, "next_attempt_at": None}
    else:
        values["next_attempt_at"] = at
    mine = (c[queue.key] == getattr(row, queue.key), c[queue.stamp] == getattr(row, queue.stamp))
    found = await conn.execute(
        update(queue.table).where(*mine, c.status == queue.due).values(values)
    )
    return bool(found.rowcount)
