"""The soak's history at the ten-million shape, on a compressed clock (``AITOPUP_SOAK_SCALE``).

A merchant at scale receives ten million webhook deliveries a day (a million sends, each
fanned out to ten endpoints), each with its attempt. While the soak's gateways and workers
take its sends, this writes that history at ``SCALE`` of the rate, through each compressed day:
``AITOPUP_SOAK_WEEKS`` weeks of days in the soak's ``AITOPUP_SOAK_SECONDS``, each day's rows
stamped with that day's time (ids made as at that moment, ``clock.id_floor``), so a week of
history passes in seconds. The days end a day after the run began, the weeks before it in the
past: the live sends' own week is never past retention and its checks read every row of it.
Two merchants share the history, one on ``KEPT_DAYS`` (the longest retention), one on
``SHORT_DAYS``.

Before each day's rows, the worker's jobs run at that day's time (``make_ahead``,
``drop_history``, ``prune_history``, each in two runners at once, as two workers' jobs are), on
the connection the gateways have (through PgBouncer where the soak runs one). The figures:
partitions made and dropped, rows written, the history's rows at each compressed week's end
(flat once the first weeks are dropped), rows deleted row by row (the shorter retention's
only: none of a week kept of the merchant on the longest), and the days the writes fell behind.
A new database has no history from before partitioning: its migration's first partition, empty,
is dropped (as retention would, once past) so the past weeks have partitions of their own.
"""

# The history's SQL is built from integers and ids this module makes, never from input.
# ruff: noqa: S608

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from gateway.store.engine import Database
from gateway.store.partitions import (
    HISTORY,
    SPAN,
    drop_past,
    lock_not_granted,
    make_ahead,
    week_of,
)
from gateway.values.clock import id_floor, utcnow
from worker.retention import drop_history, prune_history

T = TypeVar("T")

__all__ = ["KEPT_DAYS", "SHORT_DAYS", "TEN_MILLION", "Figures", "Shape", "compressed", "prepare"]

TEN_MILLION = 10_000_000  # deliveries a day
FANOUT = 10  # endpoints an event goes to: a million sends make ten million deliveries
KEPT_DAYS, SHORT_DAYS = 14, 7
# Of every ten events, the shorter retention's merchant has one.
SHORT_SHARE = 10
# A day's rows are written in slices spread over its compressed seconds, as a merchant's
# deliveries arrive through its day: written at once, each day was a burst of about 100,000 rows
# a second for a tenth of a second, and the live sends that met one made the soak's send p99.
SLICES = 10
_ENDPOINT_TAIL = 27  # "we_" and 24 characters


@dataclass(frozen=True, slots=True)
class Shape:
    """``scale`` of ten million deliveries a compressed day, ``weeks`` of days in ``seconds``."""

    scale: float
    weeks: int
    seconds: float

    @property
    def days(self) -> int:
        return 7 * self.weeks

    @property
    def events_a_day(self) -> int:
        return max(SHORT_SHARE, round(TEN_MILLION * self.scale / FANOUT))

    @property
    def day_seconds(self) -> float:
        return self.seconds / self.days


@dataclass(frozen=True, slots=True)
class _Merchant:
    id: str
    tag: int  # the first digit of its ids' sequence numbers: two merchants' never collide
    retention_days: int | None

    def endpoint(self, n: int) -> str:
        return f"we_{self.tag}{n:023d}"

    @property
    def endpoints(self) -> list[str]:
        return [self.endpoint(n) for n in range(FANOUT)]

    def setup(self) -> list[str]:
        days = "NULL" if self.retention_days is None else str(self.retention_days)
        made = [
            "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at, "
            f"retention_days) VALUES ('{self.id}', 'Soak history', 0, now(), {days})"
        ]
        made += [
            "INSERT INTO webhook_endpoints (id, env, merchant_id, url, event_types, enabled, "
            f"secret_sealed, created_at, updated_at) VALUES ('{endpoint}', 'live', "
            f"'{self.id}', 'http://127.0.0.1:9/hook', '', true, 'sealed', now(), now())"
            for endpoint in self.endpoints
        ]
        return made

    def day_sql(self, at: datetime, numbers: range) -> list[str]:
        """The day's events ``numbers`` made at ``at``, each delivered to every endpoint on one
        attempt."""
        evt, stamp = id_floor("evt", at), f"'{at.isoformat()}'::timestamptz"
        event = f"'{evt}' || '{self.tag}' || lpad(i::text, 14, '0')"
        delivery = f"'dlv_{evt[4:]}' || '{self.tag}' || lpad(i::text, 14, '0') || e"
        endpoints = ", ".join(f"('{e}')" for e in self.endpoints)
        series = f"generate_series({numbers.start}, {numbers.stop - 1}) i"
        fanned = f"FROM {series} CROSS JOIN (VALUES {endpoints}) AS ep(e)"
        return [
            "INSERT INTO events (id, env, merchant_id, type, payload, created_at) "
            f"SELECT {event}, 'live', '{self.id}', 'topup.delivered', repeat('x', 300), {stamp} "
            f"FROM {series}",
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, env, merchant_id, "
            "event_type, status, attempts, trigger, run_start, generation, next_attempt_at, "
            f"created_at, updated_at) SELECT {delivery}, {event}, e, 'live', '{self.id}', "
            f"'topup.delivered', 'succeeded', 1, 'auto', 0, 0, {stamp}, {stamp}, {stamp} {fanned}",
            "INSERT INTO webhook_attempts (delivery_id, attempt, trigger, started_at, "
            "duration_ms, url, request_headers, request_body, response_status) "
            f"SELECT {delivery}, 1, 'auto', {stamp}, 3, 'http://127.0.0.1:9/hook', '{{}}', "
            f"repeat('x', 300), 200 {fanned}",
        ]

    def rows_sql(self, low: datetime, high: datetime) -> str:
        """Its history rows made in ``[low, high)``: events, deliveries and attempts."""
        evt = f"id >= '{id_floor('evt', low)}' AND id < '{id_floor('evt', high)}'"
        dlv = f">= '{id_floor('dlv', low)}' AND {{}} < '{id_floor('dlv', high)}'"
        ends = ", ".join(f"'{e}'" for e in self.endpoints)
        return (
            f"SELECT (SELECT count(*) FROM events WHERE merchant_id = '{self.id}' AND {evt})"
            " + (SELECT count(*) FROM webhook_deliveries WHERE merchant_id = "
            f"'{self.id}' AND id {dlv.format('id')})"
            " + (SELECT count(*) FROM webhook_attempts WHERE delivery_id "
            f"{dlv.format('delivery_id')} AND right(delivery_id, {_ENDPOINT_TAIL}) IN ({ends}))"
        )


KEPT = _Merchant("mer_soakkept", 7, None)
SHORT = _Merchant("mer_soakshort", 8, SHORT_DAYS)


@dataclass
class Figures:
    """What the compressed history did, and what it left."""

    shape: Shape
    first_day: datetime = field(default_factory=utcnow)
    made: int = 0
    dropped: list[str] = field(default_factory=list)
    written: Counter[tuple[str, int]] = field(default_factory=Counter)  # rows by merchant, day
    deleted: int = 0  # rows the runners deleted row by row
    weekly: list[int] = field(default_factory=list)  # the history's rows at each week's end
    first_drop_week: int | None = None
    late_days: int = 0  # days whose jobs and rows began a compressed day late or more
    lock_waits: int = 0  # a make or drop that waited past its lock's bound, done next day
    errors: Counter[str] = field(default_factory=Counter)  # other failures, retried
    busy_seconds: float = 0.0  # writing rows, all days
    took: float = 0.0  # from the first day's jobs to the last day's rows

    def moment(self, day: int) -> datetime:
        return self.first_day + timedelta(days=day)

    def lines(self, left: dict[tuple[str, int], int], short_left_past: int) -> list[str]:
        shape = self.shape
        rows = sum(self.written.values())
        per_day = shape.events_a_day * FANOUT
        lines = [
            f"history: {shape.weeks} compressed weeks, {shape.days} days of {per_day:,}"
            f" deliveries ({shape.scale:g} of ten million a day), a day every"
            f" {shape.day_seconds:.2f} s; rows written {rows:,} (events, deliveries and"
            f" attempts), {rows / max(self.busy_seconds, 1e-9):,.0f} rows/s while writing;"
            f" the days took {self.took:.1f} s, {self.late_days} begun a day late or more",
            f"history: partitions made {self.made}, dropped {len(self.dropped)}"
            f" ({len(self.dropped) // len(HISTORY)} weeks of {len(HISTORY)} tables); makes or"
            f" drops that waited for a lock and went on next day {self.lock_waits};"
            f" other errors retried {sum(self.errors.values())} {dict(self.errors)}",
            f"history: the longest retention's rows at each week's end {self.weekly}, the"
            f" first drop in week"
            f" {self.first_drop_week}",
        ]
        kept_deleted = sum(
            self.written[key] - left.get(key, 0)
            for key in self.written
            if key[0] == KEPT.id and not self._dropped(key[1])
        )
        short_gone = sum(
            self.written[key] - left.get(key, 0) for key in self.written if key[0] == SHORT.id
        )
        lines.append(
            f"history: rows deleted row by row {self.deleted:,}; of the longest retention's"
            f" weeks kept {kept_deleted} deleted; the shorter retention's rows gone"
            f" {short_gone:,} (left past its horizon {short_left_past})"
        )
        return lines

    def _dropped(self, day: int) -> bool:
        week = week_of(self.moment(day))
        return any(name.endswith(f"_p{week:%Y%m%d}") for name in self.dropped)

    def failures(self, left: dict[tuple[str, int], int], horizon: datetime) -> list[str]:
        """What must hold: the dropped weeks gone whole, the longest retention's kept weeks
        whole (none of it deleted), the shorter one's days from ``horizon`` on whole, the
        history flat once the first weeks are dropped."""
        found = []
        for (merchant, day), rows in sorted(self.written.items()):
            now = left.get((merchant, day), 0)
            if self._dropped(day) and now:
                found.append(f"{merchant} day {day}: {now} rows in a dropped week")
            elif not self._dropped(day):
                kept = merchant == KEPT.id or self.moment(day) >= horizon
                if kept and now != rows:
                    found.append(f"{merchant} day {day}: {now} of {rows} rows kept")
        if not self.dropped:
            found.append("no partition dropped")
        settled = self.weekly[self.first_drop_week or len(self.weekly) :]
        if len(set(settled)) > 1:
            found.append(f"the history's size not flat after the first drop: {self.weekly}")
        return found


async def prepare(db: Database, now: datetime) -> None:
    """The soak's new database ready for past weeks: the migration's first partition (the
    history from before partitioning: none) dropped, the current week made, and the
    history's merchants."""
    await drop_past(db, week_of(now) + SPAN)
    await make_ahead(db, now)
    async with db.transaction() as conn:
        for merchant in (KEPT, SHORT):
            for sql in merchant.setup():
                await conn.exec_driver_sql(sql)


async def _until_done(figures: Figures, step: Callable[[], Awaitable[T]]) -> T:
    """``step`` tried again after a fault (the soak's own: a PostgreSQL stop, a pooler's restart)
    until it runs, each failure counted."""
    while True:
        try:
            return await step()
        except Exception as error:
            figures.errors[type(error).__name__] += 1
            await asyncio.sleep(0.2)


async def _jobs(db: Database, now: datetime, figures: Figures, week: int) -> None:
    """One worker's retention jobs at ``now``, as the worker runs them: tried again after a
    fault until they ran, as the worker's next run would (a day here is seconds, its runs
    minutes apart), so a fault's day is late rather than its drop a week; a lock not granted
    in time waits for the next day's run, as the worker's does."""

    # Each figure added once its call is back: two runners' jobs interleave.
    async def run() -> None:
        try:
            made = await make_ahead(db, now)
            figures.made += len(made)
            dropped = await drop_history(db, now=now, default_days=KEPT_DAYS)
            if dropped.partitions and figures.first_drop_week is None:
                figures.first_drop_week = week
            figures.dropped.extend(dropped.partitions)
            pruned = await prune_history(
                db, now=now, default_days=KEPT_DAYS, whole_since=dropped.whole_since
            )
            figures.deleted += pruned.rows
        except Exception as error:
            if not lock_not_granted(error):
                raise
            figures.lock_waits += 1  # done: the next day's run takes it

    await _until_done(figures, run)


async def _write(db: Database, day: int, figures: Figures, due: float) -> None:
    """The day's rows in ``SLICES`` slices, the first at once, the others at even steps of the
    day from ``due`` (its start); each merchant's slice one transaction."""
    at = figures.moment(day)
    shape = figures.shape
    short = shape.events_a_day // SHORT_SHARE
    shares = ((KEPT, shape.events_a_day - short), (SHORT, short))
    for merchant, events in shares:
        figures.written[(merchant.id, day)] += events * (1 + 2 * FANOUT)
    for n in range(SLICES):
        wait = due + n * shape.day_seconds / SLICES - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        started = time.monotonic()
        for merchant, events in shares:
            numbers = range(1 + events * n // SLICES, 1 + events * (n + 1) // SLICES)
            if not numbers:
                continue

            async def write(merchant: _Merchant = merchant, numbers: range = numbers) -> None:
                async with db.transaction() as conn:
                    for sql in merchant.day_sql(at, numbers):
                        await conn.exec_driver_sql(sql)

            await _until_done(figures, write)
        figures.busy_seconds += time.monotonic() - started


async def _history_rows(db: Database) -> int:
    """The longest retention's history rows: the shorter one's the workers' own retention
    prunes at the real time too, further than the compressed day's."""
    low, high = datetime(2000, 1, 1, tzinfo=utcnow().tzinfo), utcnow() + 30 * SPAN
    async with db.read() as conn:
        return int((await conn.exec_driver_sql(KEPT.rows_sql(low, high))).scalar_one())


async def compressed(runners: list[Database], shape: Shape, now: datetime) -> Figures:
    """The compressed days, paced over ``shape.seconds``: each day the jobs in every runner at
    once, then the day's rows through the day, then at a week's end the history's rows."""
    figures = Figures(shape, first_day=now + timedelta(days=1 - shape.days))
    begin = time.monotonic()
    for day in range(shape.days):
        due = begin + day * shape.day_seconds
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        elif -wait >= shape.day_seconds:
            figures.late_days += 1
        at = figures.moment(day)
        week = day // 7
        await asyncio.gather(*(_jobs(db, at, figures, week) for db in runners))
        await _write(runners[0], day, figures, due)
        if day % 7 == 6:  # until read: a fault of the soak's may be under way
            rows = await _until_done(figures, lambda: _history_rows(runners[0]))
            figures.weekly.append(rows)
    figures.took = time.monotonic() - begin
    return figures


async def left_by_day(db: Database, figures: Figures) -> dict[tuple[str, int], int]:
    """The rows left of each merchant's day."""
    left = {}
    async with db.read() as conn:
        for merchant in (KEPT, SHORT):
            for day in range(figures.shape.days):
                low, high = figures.moment(day), figures.moment(day + 1)
                found = await conn.exec_driver_sql(merchant.rows_sql(low, high))
                left[(merchant.id, day)] = int(found.scalar_one())
    return left


def short_horizon(figures: Figures) -> datetime:
    """The shorter retention's horizon at the last day's jobs."""
    return figures.moment(figures.shape.days - 1) - timedelta(days=SHORT_DAYS)


async def report(db: Database, figures: Figures) -> tuple[list[str], list[str]]:
    """The figures' lines, and what failed."""
    left = await left_by_day(db, figures)
    horizon = short_horizon(figures)
    past = sum(
        rows
        for (merchant, day), rows in left.items()
        if merchant == SHORT.id and figures.moment(day) < horizon
    )
    # The workers prune the shorter retention at the real time all through the run, and the
    # last compressed day is the run's start: the day a retention back from it (its rows all
    # stamped at its first moment) may be gone by then, or not yet. What must be whole starts
    # at the real time's horizon.
    whole_from = max(horizon, utcnow() - timedelta(days=SHORT_DAYS))
    return figures.lines(left, past), figures.failures(left, whole_from)
