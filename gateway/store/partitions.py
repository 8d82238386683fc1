"""Webhook history partitioned by time on PostgreSQL: made ahead, and dropped whole once past
the longest retention, not deleted row by row. SQLite keeps one table each, as every query
reads them; nothing outside the store and its migrations knows which layout a store has.

Events, deliveries, their attempts and the rows of events payload filters dropped are the
history: written once, read for a while, then gone. Each is partitioned by a range of a key
that says when its row was made, a **week** a partition:

- ``events`` by ``id`` and ``webhook_deliveries`` by ``id``: ids sort by creation time
  (``clock.new_id``), and a delivery's id starts with its event's (``outbox.delivery_prefix``),
  so a week's deliveries are its week's events' and a partition's bounds are ``id_floor``\\ s.
  The key being the id itself, a lookup by id reads the one partition its id falls in, and the
  primary key stays the id: nothing is added to any key.
- ``webhook_attempts`` by ``delivery_id``: an attempt goes with its delivery, whenever it ran.
- ``webhook_filtered`` by ``created_at``, already in its key (dated as its deliveries).

A week, not a day: the statements no key prunes read every partition's index (a merchant's
pages read the last two weeks first, and the lease over due deliveries the weeks from the
oldest holding a pending one, ``pending_floor``), and 90 days of history is 14 weeks, not 91
days; a drop
then keeps at most a week beyond the longest retention. Each table has a ``DEFAULT``
partition, so no write ever fails for want of a partition: ``make_ahead`` moves what landed
there into the week's own partition when it makes it.

Keys lost to partitioning, and what keeps their integrity instead (migration 0077): a
delivery's ``(event_id, endpoint_id)`` is unique because its id is made of both (the fan-out is
its one writer); a delivery's event and an attempt's delivery are no foreign keys any more
(a partition referenced by one cannot be dropped without a check that reads the other table):
the fan-out writes a delivery in its event's statement and the worker an attempt for the
delivery it leased, and ``drop_past`` drops a week's events, deliveries and attempts together,
never one whose week still holds a pending delivery.
"""

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..values.clock import id_floor, id_time
from .engine import Database

__all__ = [
    "AHEAD",
    "HISTORY",
    "SPAN",
    "Dropped",
    "History",
    "attach_sql",
    "drop_past",
    "lock_not_granted",
    "make_ahead",
    "pending_floor",
    "week_of",
]

SPAN = timedelta(days=7)
# Weeks start on a Monday at midnight UTC.
_MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
# Weeks made ahead of the current one: the worker that makes them may be down this long.
AHEAD = 2
# Weeks back the job makes for rows the ``DEFAULT`` partition caught: older ones (or keys no id
# of ours has) stay in it, rather than a partition made for every week since 1970.
BEHIND = 8
# Partitions a retention run drops at most: what is left waits for the next run.
MOST_DROPPED = 4
# A partition made or dropped waits this long for its table's lock, then lets go of every lock
# it took, pauses, and tries again, ``LOCK_TRIES`` times in all before it gives up until the next
# run. PostgreSQL grants a table's locks in the order asked, so every write to the table asked
# after it waits as long as it does, the sends' among them: a short wait, tried again, holds
# them that long at a time, where one long wait held them all of it (docs/performance.md, "The
# send's tail at 200 a second").
LOCK_TIMEOUT = "20ms"
LOCK_TRIES = 50
LOCK_PAUSE_SECONDS = 0.1
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock not granted in ``lock_timeout``

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class History:
    """A partitioned table: its partition key, the id prefix whose time that key holds
    (``None``: the key is a timestamp), and the storage options each partition takes (a
    partitioned table holds none itself)."""

    table: str
    key: str
    prefix: str | None
    options: str = ""

    def floor(self, moment: datetime) -> str:
        """The key's least value at ``moment``: an id's floor (``clock.id_floor``), or the time.
        A week's partition holds the keys from its Monday's floor to the next Monday's: the one
        place its bounds are made (the owner's function takes them, migration 0079)."""
        if self.prefix is None:
            return moment.isoformat()
        return id_floor(self.prefix, moment)

    def bound(self, moment: datetime) -> str:
        """``floor`` as an SQL literal."""
        return f"'{self.floor(moment)}'"

    def moment(self, literal: str) -> datetime:
        """The moment a bound of this key stands for (``floor``'s inverse); ``ValueError`` for
        a key no id of ours has."""
        if self.prefix is None:
            return datetime.fromisoformat(literal).astimezone(UTC)
        moment = id_time(self.prefix, literal)
        if moment is None:
            raise ValueError(literal)
        return moment

    def partition(self, start: datetime) -> str:
        return f"{self.table}_p{start:%Y%m%d}"

    @property
    def default(self) -> str:
        return f"{self.table}_default"


HISTORY = (
    History("events", "id", "evt"),
    # Pages left half free for a leased row's new version (migration 0056).
    History("webhook_deliveries", "id", "dlv", "WITH (fillfactor = 50)"),
    History("webhook_attempts", "delivery_id", "dlv"),
    History("webhook_filtered", "created_at", None),
)
_DELIVERIES = HISTORY[1]


def week_of(moment: datetime) -> datetime:
    """The start of the week ``moment`` is in."""
    return _MONDAY + ((moment - _MONDAY) // SPAN) * SPAN


def attach_sql(history: History, start: datetime) -> list[str]:
    """The statements that make ``history``'s partition of the week from ``start``, moving
    into it first what its ``DEFAULT`` partition caught of that week (none, when made ahead)."""
    name, low, high = history.partition(start), history.bound(start), history.bound(start + SPAN)
    return [
        f"CREATE TABLE {name} (LIKE {history.table} INCLUDING DEFAULTS) {history.options}",
        # Names and bounds are ours: the tables above, ids' floors and ISO times.
        f"WITH moved AS (DELETE FROM {history.default} WHERE {history.key} >= {low} "  # noqa: S608
        f"AND {history.key} < {high} RETURNING *) INSERT INTO {name} SELECT * FROM moved",
        f"ALTER TABLE {history.table} ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})",
    ]


_PARTITIONS = text(
    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:table AS regclass)"
)
_RANGE = re.compile(r"FROM \((?:MINVALUE|'([^']*)')\) TO \('([^']*)'\)")


@dataclass(frozen=True, slots=True)
class _Part:
    name: str
    low: datetime | None  # None: from the least value (the history before partitioning)
    high: datetime


async def _parts(conn: AsyncConnection, history: History) -> list[_Part]:
    """``history``'s range partitions, oldest first; none on a table not partitioned."""
    found = []
    for name, bound in await conn.execute(_PARTITIONS, {"table": history.table}):
        match = _RANGE.search(bound or "")
        if match is not None:
            low = None if match[1] is None else history.moment(match[1])
            found.append(_Part(name, low, history.moment(match[2])))
    return sorted(found, key=lambda part: part.high)


async def _is_partitioned(conn: AsyncConnection) -> bool:
    found = await conn.execute(
        text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = CAST(:table AS regclass)"),
        {"table": _DELIVERIES.table},
    )
    return found.first() is not None


async def _strays_since(conn: AsyncConnection, history: History) -> datetime | None:
    """When the oldest row its ``DEFAULT`` partition caught was made; None if it caught none."""
    least = (
        await conn.exec_driver_sql(f"SELECT min({history.key}) FROM {history.default}")  # noqa: S608
    ).scalar_one()
    if least is None:
        return None
    try:
        return history.moment(least if isinstance(least, str) else least.isoformat())
    except (ValueError, OverflowError):  # a key no id of ours has: left where it is
        return None


async def make_ahead(db: Database, now: datetime, *, weeks: int = AHEAD) -> list[str]:
    """Every history table's partitions from the oldest week its ``DEFAULT`` partition holds
    rows of (else the current week; ``BEHIND`` weeks back at most) to ``weeks`` weeks after
    the current one, each made once; the partitions made. Nothing on SQLite."""
    if db.is_sqlite:
        return []
    async with db.read() as conn:
        if not await _is_partitioned(conn):
            return []

    async def make(conn: AsyncConnection, history: History) -> list[str]:
        made: list[str] = []
        parts = await _parts(conn, history)
        strays = await _strays_since(conn, history)
        start = week_of(min(now, max(strays or now, now - BEHIND * SPAN)))
        for step in range(int((week_of(now) - start) / SPAN) + weeks + 1):
            week = start + step * SPAN
            if any((p.low is None or p.low < week + SPAN) and week < p.high for p in parts):
                continue
            # Through the tables' owner's function (migration 0079): the workers' role has
            # grants on the tables, and only their owner may add a partition.
            name = history.partition(week)
            await conn.execute(
                _MAKE,
                {
                    "table": history.table,
                    "name": name,
                    "low": history.floor(week),
                    "high": history.floor(week + SPAN),
                },
            )
            made.append(name)
        return made

    made: list[str] = []
    for history in HISTORY:
        made += await _serialised(db, functools.partial(make, history=history))
    return made


# Makes and drops of partitions wait for one another (two workers' jobs at startup), each
# transaction's own lock, which a pooler in transaction mode keeps.
_LOCK_KEY = 0x61697470_70617274  # "aitp" "part"
_MAKE = text("SELECT history_make_partition(:table, :name, :low, :high)")
_DROP = text("SELECT history_drop_partition(:table, :name)")


def lock_not_granted(error: BaseException) -> bool:
    """Whether ``error`` is PostgreSQL's for a lock not granted within ``lock_timeout``: told
    by its SQLSTATE, not its words."""
    return isinstance(error, DBAPIError) and (
        getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE
    )


async def _serialised(db: Database, step: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """``step`` in a transaction of its own, the only one making or dropping partitions, which
    waits at most ``LOCK_TIMEOUT`` for a table's lock: tried again after a pause while a lock is
    not granted in time, ``LOCK_TRIES`` times in all, then its error raised."""
    tried = 1
    while True:
        try:
            async with db.transaction() as conn:
                await conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
                return await step(conn)
        except DBAPIError as exc:
            if not lock_not_granted(exc) or tried == LOCK_TRIES:
                raise
        tried += 1
        await asyncio.sleep(LOCK_PAUSE_SECONDS)


@dataclass(frozen=True, slots=True)
class Dropped:
    """What ``drop_past`` dropped: the partitions, by name, and when the newest of their
    weeks ended; ``kept``: a partition past the horizon kept for a delivery still pending;
    ``whole_since``: the moment from which the history is in weekly partitions, dropped whole
    (what is older is in the one partition of the history from before them, or there is none);
    None where the history is not partitioned (SQLite)."""

    partitions: tuple[str, ...] = ()
    through: datetime | None = None
    kept: str | None = None
    whole_since: datetime | None = None


# Read through the partitioned table, its key's range pruning it to the one partition: the
# workers' role has grants on the tables, not necessarily on each partition the owner made.
def _pending_probes(parts: list[_Part]) -> str:
    """One statement answering which of ``parts`` (ranges of the deliveries' key) is the first
    holding a pending delivery: a probe a range, each planned on its one partition (the bounds
    are ours, ids' floors, as ``attach_sql`` writes them), the first to find one answering."""
    probes = []
    for n, part in enumerate(parts):
        low = "''" if part.low is None else _DELIVERIES.bound(part.low)
        probes.append(
            f"(SELECT {n} AS n FROM webhook_deliveries WHERE status = 'pending' "  # noqa: S608
            f"AND id >= {low} AND id < {_DELIVERIES.bound(part.high)} LIMIT 1)"
        )
    return f"SELECT n FROM ({' UNION ALL '.join(probes)}) AS probes ORDER BY n LIMIT 1"  # noqa: S608


async def drop_past(db: Database, horizon: datetime, *, most: int = MOST_DROPPED) -> Dropped:
    """The history's weeks that ended by ``horizon`` dropped, oldest first, up to ``most``
    weeks: each week's partitions of every table together, in one transaction, none while its
    deliveries hold one still pending (which keeps its event too; the weeks after it go on).
    Nothing on SQLite."""
    if db.is_sqlite:
        return Dropped()
    async with db.read() as conn:
        if not await _is_partitioned(conn):
            return Dropped()
        weeks: dict[datetime, list[tuple[History, _Part]]] = {}
        for history in HISTORY:
            for part in await _parts(conn, history):
                if part.high <= horizon:
                    weeks.setdefault(part.high, []).append((history, part))
    dropped: list[str] = []
    through = None
    kept = None
    for high in sorted(weeks)[:most]:
        names, pending = await _serialised(db, functools.partial(_drop_week, week=weeks[high]))
        if pending is not None:
            kept = kept or pending
            continue
        dropped += names
        through = high
    async with db.read() as conn:
        parts = await _parts(conn, _DELIVERIES)
    before = [part.high for part in parts if part.low is None]
    whole_since = before[0] if before else min((p.high - SPAN for p in parts), default=horizon)
    return Dropped(tuple(dropped), through, kept, whole_since)


async def _drop_week(
    conn: AsyncConnection, week: list[tuple[History, _Part]]
) -> tuple[list[str], str | None]:
    """The week's partitions dropped, and their names; or, with a delivery of it still pending,
    none, and that one's partition."""
    # Another worker's job may have dropped them while this one waited.
    there = await _existing(conn, [p.name for _, p in week])
    found = [(h, p) for h, p in week if p.name in there]
    pending = await _pending_in(conn, [p for h, p in found if h is _DELIVERIES])
    if pending is not None:
        return [], pending.name
    for history, part in found:  # through the owner's function, as made (0079)
        await conn.execute(_DROP, {"table": history.table, "name": part.name})
    return [part.name for _, part in found], None


async def _existing(conn: AsyncConnection, names: list[str]) -> set[str]:
    """Those of the tables ``names`` that exist: one round trip for a week's tables."""
    found = await conn.execute(_EXISTING, {"names": names})
    return set(found.scalars())


_EXISTING = text(
    "SELECT name FROM unnest(CAST(:names AS text[])) AS name WHERE to_regclass(name) IS NOT NULL"
)


async def _pending_in(conn: AsyncConnection, parts: list[_Part]) -> _Part | None:
    """The first of ``parts`` (ranges of the deliveries' key) that holds a delivery still
    pending, if any: one round trip, however many weeks of history there are."""
    if not parts:
        return None
    found = (await conn.exec_driver_sql(_pending_probes(parts))).scalar()
    return None if found is None else parts[found]


async def pending_floor(db: Database, now: datetime) -> str:
    """The least id a pending delivery has, to a week: the floor of the oldest range of the key
    holding one (a week's partition, the history from before partitions, or a range no
    partition holds, which the ``DEFAULT`` partition has), never above the floor of the week
    before ``now``'s (a delivery written at a week's turn by a gateway whose clock is behind
    is above it); "" where the oldest range starts at the least key, or the history is not
    partitioned (SQLite). Leases of deliveries read the partitions from it on, the ones that
    can hold due rows: without it PostgreSQL plans every week of the history for each lease
    (the statement planned anew for every run behind a pooler that keeps no prepared
    statements). New deliveries are above it; a delivery made pending again below it (a
    replay of an older one) is found once it is looked at again (``worker.runner``)."""
    if db.is_sqlite:
        return ""
    recent = week_of(now) - SPAN
    async with db.read() as conn:
        if not await _is_partitioned(conn):
            return ""
        part = await _pending_in(conn, _below(await _parts(conn, _DELIVERIES), recent))
    if part is None:
        return _DELIVERIES.floor(recent)
    return "" if part.low is None else _DELIVERIES.floor(part.low)


def _below(parts: list[_Part], recent: datetime) -> list[_Part]:
    """The ranges of the key below ``recent``, oldest first: each partition's, and between them
    (or before the first) the ranges only the ``DEFAULT`` partition holds, each cut at
    ``recent``. Each is read through the table, its range pruning it to its one partition."""
    ranges: list[_Part] = []
    start: datetime | None = None  # None: from the least key
    for part in parts:
        if part.low is not None and (start is None or start < part.low):
            ranges.append(_Part("", start, min(part.low, recent)))
        ranges.append(_Part(part.name, part.low, min(part.high, recent)))
        start = part.high
    if start is not None and start < recent:
        ranges.append(_Part("", start, recent))
    return [r for r in ranges if r.low is None or r.low < r.high]
