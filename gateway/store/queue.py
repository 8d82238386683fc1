"""Rows are the queue: the one definition of leasing due work, of when it is tried again, and of
recording a try on a row of the common shape.

Every kind of background work (the worker's ``worker.kinds``) is a table whose rows carry the
same columns: ``status`` (the kind's due status while there is work to do), ``next_attempt_at``
(when it is due; while a worker holds it, when that worker's lease ends, or for the deliveries,
whose leases are the most, that end in a column of its own: ``Queue.lease_end``), a lease stamp
(``generation``, bumped by every lease and every record; the upstream work's is ``attempts``,
counted by every lease), ``attempts``, ``merchant_id`` and ``updated_at``, and all but the
deliveries' ``last_error``. A worker leases due rows in one statement
(``lease``): each gets a fresh stamp and is not due again until its lease ends, so of two
workers exactly one has it (on PostgreSQL the rows another lease holds are skipped, ``FOR UPDATE
SKIP LOCKED``; SQLite's one writer takes leases one at a time), and a worker killed mid-try
leaves a lease that lapses into the next one's hands.

A try ends in one of three outcomes (``Tried``), and its record is written by one rule
(``Queue.holds``, ``Queue.recorded``): only while the row is still due at the stamp its lease
gave it, so a holder whose lease lapsed and was taken again records nothing; and it moves a
``generation`` on, so what it wrote is told apart from anything written later. ``settle``
writes it for one row; a kind that writes its records in batches (the deliveries',
``worker.store``) builds its statement from the same two.

Redis plays no part here: a flushed or restarted Redis loses no work, since the rows are read
again.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    CTE,
    Column,
    ColumnElement,
    Integer,
    Table,
    Update,
    case,
    func,
    literal_column,
    not_,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from .engine import Database
from .expressions import from_floor, materialized, param
from .partitions import pending_floor
from .raw import Raw, Statement
from .types import UTCDateTime

__all__ = [
    "Queue",
    "Tried",
    "floor",
    "give_back",
    "lease",
    "leased_rows",
    "next_due",
    "next_try",
    "settle",
]


class Tried(enum.Enum):
    """What a try of a row came to: ``DONE``, its work finished; ``AGAIN``, due again on the
    kind's schedule; ``FAILED``, given up for good."""

    DONE = "done"
    AGAIN = "again"
    FAILED = "failed"

    @classmethod
    def of(cls, ok: bool, at: datetime | None) -> "Tried":
        """A try that did its work is done; one that did not is due again at ``at``, or failed
        once the schedule is spent (``at`` is ``None``, ``next_try``)."""
        if ok:
            return cls.DONE
        return cls.FAILED if at is None else cls.AGAIN


@dataclass(frozen=True, eq=False)
class Queue:
    """A kind's rows: its table, the status its due rows have, and those it ends in.

    ``where``: what else a due row meets (staging mail is never sent). ``stamp``: the column a
    lease bumps and a record checks. ``stamp_says_due``: every change of a row's status moves
    its stamp (the deliveries': leases, records, replays), so a row at a lease's stamp is due
    still, and a record's guard need not read its status; PostgreSQL would read that by the
    due index, not the key, on a table without statistics."""

    table: Table
    due: str = "pending"
    done: str = "done"
    failed: str = "failed"
    key: str = "id"
    stamp: str = "generation"
    where: Sequence[ColumnElement[bool]] = field(default_factory=tuple)
    stamp_says_due: bool = False
    first: ColumnElement[bool] | None = None
    # Its key is its table's partition key (``store.partitions``): a lease and the look for the
    # next due row read only the partitions from a floor of the key on (``floor``).
    partitioned: bool = False
    lease_end: str = "next_attempt_at"
    # The columns a lease hands back, each decoded for every row leased: all, unless the kind
    # says which it reads.
    returns: Sequence[str] | None = None

    @property
    def leased_apart(self) -> bool:
        """Whether a lease writes its end to a column of its own (``lease_end``), not to the
        due time: a column in no index, so that on PostgreSQL a lease changes no indexed
        column and rewrites its row in place (a heap-only update), with no index entry."""
        return self.lease_end != "next_attempt_at"

    def from_floor(self) -> list[ColumnElement[bool]]:
        """Where a partitioned kind's lease and look read: its key from the parameter
        ``floor`` on (``floor``), on PostgreSQL; nothing more for any other kind."""
        return [from_floor(self.table.c[self.key], "floor")] if self.partitioned else []

    def is_due(self, now: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        c = self.table.c
        return [c.status == self.due, c.next_attempt_at <= now, *self.where, *self._free(now)]

    def _free(self, now: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        """No lease holds the row at ``now`` (none, or one that has lapsed), where a lease
        writes its end apart; where it writes the due time, the due condition says it."""
        if not self.leased_apart:
            return []
        end = self.table.c[self.lease_end]
        return [or_(end.is_(None), end <= now)]

    def released(self) -> dict[str, Any]:
        """What every write that hands a leased row back (a record, a put-off, a wake, a
        throttle's slot) adds: its lease is over."""
        return {self.lease_end: None} if self.leased_apart else {}

    def free_at(self) -> ColumnElement[Any]:
        """When a row may next be leased: when it is due or, while a lease holds it past
        that, when the lease ends."""
        c = self.table.c
        if not self.leased_apart:
            return c.next_attempt_at
        end = c[self.lease_end]
        return case((end > c.next_attempt_at, end), else_=c.next_attempt_at)

    def status(self, tried: Tried) -> str:
        """The status a row is left in by a try that came to ``tried``."""
        return self._statuses[tried]

    @cached_property
    def _statuses(self) -> dict[Tried, str]:
        # Read by every record of a try: made once.
        return {Tried.DONE: self.done, Tried.AGAIN: self.due, Tried.FAILED: self.failed}

    def holds(self, key: Any, stamp: Any) -> list[ColumnElement[bool]]:
        """Where a record of the try on row ``key`` leased at ``stamp`` writes (values, or a
        batch's columns): only while the row is still due at that stamp. A holder whose lease
        lapsed and was taken again finds nothing to write."""
        c = self.table.c
        held = [c[self.key] == key, c[self.stamp] == stamp]
        return held if self.stamp_says_due else [*held, c.status == self.due]

    def stamp_after(self, stamp: Any) -> Any:
        """The stamp a record leaves on a row leased at ``stamp`` (a ``generation``)."""
        return stamp + 1

    def recorded(
        self, stamp: Any, *, status: Any, at: Any, now: Any, counted: bool = True
    ) -> dict[str, Any]:
        """What a record of a try leased at ``stamp`` writes besides a kind's own columns: the
        status it came to (``status``), when it is due again (``at``: ``None`` unless it is),
        the try counted against the schedule (``counted``) and the stamp moved on."""
        c = self.table.c
        values: dict[str, Any] = {
            "status": status,
            "next_attempt_at": at,
            "updated_at": now,
            **self.released(),
        }
        if self.stamp == "attempts":
            # Counted by the lease, which is the stamp: a try that does not count gives it back.
            if not counted:
                values["attempts"] = c.attempts - 1
        else:
            values[self.stamp] = self.stamp_after(stamp)
            if counted:
                values["attempts"] = c.attempts + 1
        return values

    @cached_property
    def leasing(self) -> Statement:
        """``lease``'s one statement, compiled once per dialect, on the driver."""
        return Statement.of(_leasing(self))

    @cached_property
    def next_due(self) -> Statement:
        """The earliest due time of a row no lease holds (one whose lease has lapsed is due):
        read in the due index's order, past the rows leases hold. A row that a lease holds
        beyond its due time comes back at the look after that lease lapses (the idle poll's
        at most), if no record took it first."""
        c = self.table.c
        free = self._free(param("now", UTCDateTime()))
        return Statement.of(
            select(func.min(c.next_attempt_at).label("due")).where(
                c.status == self.due, *self.where, *free, *self.from_floor()
            )
        )

    @cached_property
    def times(self) -> tuple[str, ...]:
        """Its timestamp columns, which the driver hands back as SQLite stored them."""
        return tuple(c.name for c in self.table.c if isinstance(c.type, UTCDateTime))

    @cached_property
    def returned(self) -> tuple[Column[Any], ...]:
        """The columns a lease hands back (``returns``)."""
        c = self.table.c
        return tuple(c) if self.returns is None else tuple(c[name] for name in self.returns)

    @cached_property
    def returned_times(self) -> tuple[str, ...]:
        """Of those, the timestamps (``times``)."""
        return tuple(c.name for c in self.returned if c.name in self.times)


def _leasing(queue: Queue) -> Update:
    c = queue.table.c
    now = param("now", UTCDateTime())
    limit = param("limit", Integer())
    due = [*queue.is_due(now), *queue.from_floor()]

    def oldest(name: str, *where: ColumnElement[bool]) -> CTE:
        return materialized(
            select(c[queue.key], c.next_attempt_at)
            .where(*due, *where)
            .order_by(c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True),  # PostgreSQL's; SQLite's writer is one at a time
            name,
        )

    if queue.first is None:
        chosen = select(oldest("oldest").c[queue.key])
    else:
        # The rows ``first`` picks, then the others, each read by an index of its own; the
        # others' lock on rows past ``limit`` ends with the statement.
        ahead, behind = oldest("ahead", queue.first), oldest("behind", not_(queue.first))
        lined = union_all(
            select(ahead.c[queue.key], literal_column("0").label("rank"), ahead.c.next_attempt_at),
            select(
                behind.c[queue.key], literal_column("1").label("rank"), behind.c.next_attempt_at
            ),
        ).subquery("lined")
        chosen = (
            select(lined.c[queue.key]).order_by(lined.c.rank, lined.c.next_attempt_at).limit(limit)
        )
    # The rows chosen are due: on PostgreSQL each is locked and checked again as it is locked,
    # and SQLite runs the statement alone. The key is all the update looks them up by: with the
    # due conditions repeated here, the planner of a table without statistics read every due
    # row through the due index for each row chosen. (The floor, on the key, is what prunes
    # the partitions the update plans for.)
    return (
        update(queue.table)
        .where(c[queue.key].in_(chosen), *queue.from_floor())
        .values(
            {
                queue.stamp: c[queue.stamp] + 1,
                queue.lease_end: param("until", UTCDateTime()),
                "updated_at": now,
            }
        )
        .returning(*queue.returned)
    )


async def lease(
    tx: Raw, queue: Queue, now: datetime, seconds: float, limit: int, since: str = ""
) -> list[SimpleNamespace]:
    """Up to ``limit`` due rows, oldest first, leased for ``seconds`` in ``tx`` (a work of
    ``Database.run``): each as it now stands (its stamp bumped), its columns as attributes.
    ``since``: a partitioned kind's floor (``floor``; "": every row)."""
    until = now + timedelta(seconds=seconds)
    params = {"now": now, "until": until, "limit": limit, "floor": since}
    found = await tx.fetch(queue.leasing, params)
    return leased_rows(tx, found, queue.returned_times)


def leased_rows(
    tx: Raw, found: list[dict[str, Any]], times: Sequence[str]
) -> list[SimpleNamespace]:
    """Rows a lease returned, each with its columns as attributes, its timestamps ``times`` as
    aware UTC datetimes (SQLite hands back text)."""
    for row in found:
        for name in times:
            row[name] = tx.timestamp(row[name])
    return [SimpleNamespace(**row) for row in found]


async def next_due(db: Database, queue: Queue, now: datetime, since: str = "") -> datetime | None:
    """When the next row falls due (now or earlier: one is due); ``None`` when no work is
    waiting. One read of the kind's due index. ``since``: as ``lease``'s."""

    async def read(tx: Raw) -> datetime | None:
        found = await tx.fetchrow(queue.next_due, {"now": now, "floor": since})
        return None if found is None else tx.timestamp(found["due"])

    return await db.run(read, read_only=True)


async def floor(db: Database, queue: Queue, now: datetime) -> str:
    """The least key a due row of a partitioned kind may have at ``now``, for ``lease`` and
    ``next_due`` to read only the partitions from it on (``partitions.pending_floor``); ""
    for any other kind."""
    if not queue.partitioned:
        return ""
    return await pending_floor(db, now)


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
    tried = Tried.of(error is None, at)
    stamp = getattr(row, queue.stamp)
    values = queue.recorded(
        stamp,
        status=queue.status(tried),
        at=at if tried is Tried.AGAIN else None,
        now=now,
        counted=counted,
    )
    values["last_error"] = error
    if tried is Tried.DONE:
        values |= done or {}
    return await _write(conn, queue, row, stamp, values)


async def give_back(
    conn: AsyncConnection, queue: Queue, row: Any, now: datetime, due: datetime
) -> bool:
    """Hand the leased ``row`` back untried: due again at ``due``, its try not counted, its stamp
    moved on (the lease's holder records nothing after it). Whether the lease still held."""
    stamp = getattr(row, queue.stamp)
    values = queue.recorded(stamp, status=queue.due, at=due, now=now, counted=False)
    return await _write(conn, queue, row, stamp, values)


async def _write(
    conn: AsyncConnection, queue: Queue, row: Any, stamp: Any, values: dict[str, Any]
) -> bool:
    """``values`` written on the leased ``row`` while its lease at ``stamp`` holds; whether it
    did."""
    found = await conn.execute(
        update(queue.table).where(*queue.holds(getattr(row, queue.key), stamp)).values(values)
    )
    return bool(found.rowcount)
