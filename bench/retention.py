"""Retention's cost on PostgreSQL: history rows removed a second by dropping their week's
partitions (``store.partitions``) beside deleting the same rows in today's bounded batches
(``worker.retention.prune_history``), in the same run, on the same database.

A week of history is written by the server itself (``INSERT … SELECT generate_series``):
``AITOPUP_BENCH_RETENTION_ROWS`` events (default 200,000), each with its delivery, an attempt
and a row of a filter's, so four times as many rows. The week is dropped, and the clock's time
counted; then another week of the same rows is written and deleted, batch after batch, until
none is left (each call of ``prune_history`` is one run of the worker's job: 50 batches at
most). The rows' times are in weeks ahead of now, so the migration's first partition (the
history before partitioning) holds none of them.

Then a compressed run of the worker's retention (``_compressed``): ``AITOPUP_BENCH_RETENTION_WEEKS``
weeks (8) of days, each a day's history of two merchants (``AITOPUP_BENCH_RETENTION_DAY_ROWS``
events each, 2,000), one on the default retention (``KEPT_DAYS``), one on a shorter one, and the
jobs run at each day's time: partitions made and dropped several times, only the shorter
retention's rows deleted, and the history's rows at each week's end, flat once the first weeks
are dropped.
"""

# The history's SQL is built from integers and ids this module makes, never from input.
# ruff: noqa: S608

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.store.partitions import SPAN, drop_past, make_ahead, week_of
from gateway.values.clock import id_floor, utcnow
from worker.retention import drop_history, prune_history

from .report import Row, run_alone
from .servers import DEFAULT_PG, STORES, postgres_available, postgres_database

__all__ = ["measure", "run"]

ROWS = int(os.environ.get("AITOPUP_BENCH_RETENTION_ROWS", "200000"))
# The tables a week of history has rows in, each ``ROWS`` of them.
TABLES = 4
# The compressed run: weeks of days, each a day's history of two merchants, the default's
# retention and the shorter one's of the second merchant.
WEEKS = int(os.environ.get("AITOPUP_BENCH_RETENTION_WEEKS", "8"))
# Each merchant's events a compressed day (each with its delivery, attempt and filtered row).
DAY_ROWS = int(os.environ.get("AITOPUP_BENCH_RETENTION_DAY_ROWS", "2000"))
KEPT_DAYS, SHORT_DAYS = 14, 7


@dataclass(frozen=True, slots=True)
class _Merchant:
    id: str
    endpoint: str
    tag: int  # the first digit of its ids' sequence numbers: two merchants' never collide
    retention_days: int | None = None

    def setup(self) -> list[str]:
        days = "NULL" if self.retention_days is None else str(self.retention_days)
        return [
            "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at, "
            f"retention_days) VALUES ('{self.id}', 'Bench', 0, now(), {days})",
            "INSERT INTO webhook_endpoints (id, env, merchant_id, url, event_types, enabled, "
            f"secret_sealed, created_at, updated_at) VALUES ('{self.endpoint}', 'live', "
            f"'{self.id}', 'http://127.0.0.1:9/hook', '', true, 'sealed', now(), now())",
        ]


DEFAULT = _Merchant("mer_bench", "we_" + "b" * 24, 1)
SHORT = _Merchant("mer_short", "we_" + "c" * 24, 2, SHORT_DAYS)


def _history_sql(start: datetime, rows: int, merchant: _Merchant = DEFAULT) -> list[str]:
    """``merchant``'s history at ``start``: ``rows`` events, deliveries, attempts and filtered
    rows, their ids made as in that millisecond, then a sequence number."""
    evt, at = id_floor("evt", start), f"'{start.isoformat()}'::timestamptz"
    seq = f"'{merchant.tag}' || lpad(i::text, 14, '0')"
    event = f"'{evt}' || {seq}"
    endpoint = merchant.endpoint
    delivery = f"'dlv_{evt[4:]}' || {seq} || '{endpoint}'"
    series = f"FROM generate_series(1, {rows}) i"
    return [
        "INSERT INTO events (id, env, merchant_id, type, payload, created_at) "
        f"SELECT {event}, 'live', '{merchant.id}', 'topup.delivered', repeat('x', 300), {at} "
        f"{series}",
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, env, merchant_id, event_type, "
        "status, attempts, trigger, run_start, generation, next_attempt_at, created_at, "
        f"updated_at) SELECT {delivery}, {event}, '{endpoint}', 'live', '{merchant.id}', "
        f"'topup.delivered', 'succeeded', 1, 'auto', 0, 0, {at}, {at}, {at} {series}",
        "INSERT INTO webhook_attempts (delivery_id, attempt, trigger, started_at, duration_ms, "
        "url, request_headers, request_body, response_status) "
        f"SELECT {delivery}, 1, 'auto', {at}, 3, 'http://127.0.0.1:9/hook', '{{}}', "
        f"repeat('x', 300), 200 {series}",
        "INSERT INTO webhook_filtered (endpoint_id, created_at, event_id) "
        f"SELECT '{endpoint}', {at} + i * interval '1 microsecond', {event} {series}",
    ]


async def _write_week(db: Database, start: datetime, rows: int) -> None:
    await make_ahead(db, start, weeks=0)
    async with db.transaction() as conn:
        for sql in _history_sql(start, rows):
            await conn.exec_driver_sql(sql)
    async with db.read() as conn:
        await conn.exec_driver_sql("ANALYZE")


async def _measure(database_url: str, rows: int) -> tuple[float, float]:
    """Rows removed a second: by a drop, and by the deletes."""
    db = open_database(database_url, command_timeout=600)
    try:
        async with db.transaction() as conn:
            for sql in DEFAULT.setup():
                await conn.exec_driver_sql(sql)
        dropped_week = week_of(utcnow()) + 4 * SPAN
        # The weeks before it, empty, dropped first: the drop timed is the week's alone.
        await drop_past(db, dropped_week)
        await _write_week(db, dropped_week, rows)
        started = time.perf_counter()
        dropped = await drop_past(db, dropped_week + SPAN)
        drop_seconds = time.perf_counter() - started
        assert dropped.kept is None and dropped.partitions, dropped

        deleted_week = dropped_week + SPAN
        await _write_week(db, deleted_week, rows)
        # The week past a day's retention, none of it dropped: deleted as before partitions.
        now = deleted_week + SPAN + timedelta(days=1)
        removed, started = 0, time.perf_counter()
        while True:
            pruned = await prune_history(db, now=now, default_days=1)
            removed += pruned.rows
            if pruned.rows == 0:
                break
        delete_seconds = time.perf_counter() - started
        assert removed == TABLES * rows, (removed, rows)
    finally:
        await db.dispose()
    return TABLES * rows / drop_seconds, removed / delete_seconds


_HISTORY_ROWS = (
    "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM webhook_deliveries)"
    " + (SELECT count(*) FROM webhook_attempts) + (SELECT count(*) FROM webhook_filtered)"
)


@dataclass
class _Compressed:
    """What the compressed run counted: partitions made and dropped, rows written and deleted,
    and the history's rows at the end of each week."""

    made: int = 0
    dropped: int = 0
    written: int = 0
    deleted: int = 0
    weekly: list[int] = field(default_factory=list)


async def _compressed(database_url: str, rows_a_day: int) -> _Compressed:
    """``WEEKS`` weeks of days, each: the worker's jobs at the day's time (partitions made
    ahead, the weeks past ``KEPT_DAYS`` dropped, the rest of retention), then a day's history
    of both merchants written. The days start at the first week the migration made, the weeks
    before it (the history from before, none here) dropped first."""
    db = open_database(database_url, command_timeout=600)
    found = _Compressed()
    try:
        async with db.transaction() as conn:
            for sql in SHORT.setup():
                await conn.exec_driver_sql(sql)
        first = week_of(utcnow()) + SPAN
        await drop_past(db, first)
        for day in range(7 * WEEKS):
            now = first + timedelta(days=day, hours=12)
            found.made += len(await make_ahead(db, now))
            dropped = await drop_history(db, now=now, default_days=KEPT_DAYS)
            found.dropped += len(dropped.partitions)
            pruned = await prune_history(
                db, now=now, default_days=KEPT_DAYS, whole_since=dropped.whole_since
            )
            found.deleted += pruned.rows
            async with db.transaction() as conn:
                for merchant in (DEFAULT, SHORT):
                    for sql in _history_sql(now, rows_a_day, merchant):
                        await conn.exec_driver_sql(sql)
            found.written += 2 * TABLES * rows_a_day
            if day % 7 == 6:
                async with db.read() as conn:
                    found.weekly.append(
                        int((await conn.exec_driver_sql(_HISTORY_ROWS)).scalar_one())
                    )
    finally:
        await db.dispose()
    return found


def measure(database_url: str) -> list[Row]:
    upgrade(database_url)
    by_drop, by_delete = asyncio.run(_measure(database_url, ROWS))
    run = asyncio.run(_compressed(database_url, DAY_ROWS))
    # The history after the first weeks past retention, beside it at the end: flat.
    settled, last = run.weekly[KEPT_DAYS // 7 + 1], run.weekly[-1]
    label = f"retention postgres, {WEEKS} compressed weeks"
    return [
        Row(
            f"retention postgres, {ROWS * TABLES:,} rows: rows removed/s by a drop",
            by_drop,
            "rows/s",
            "deleted in batches",
            by_delete,
            "- (a week dropped whole beside today's deletes)",
        ),
        Row(
            f"{label}: history rows at the end",
            last,
            "rows",
            "after the first drops",
            settled,
            "1.00 (flat)",
            missed=last > settled * 1.05,
        ),
        Row(f"{label}: partitions dropped", run.dropped, "parts", "made", run.made, "-"),
        Row(
            f"{label}: rows deleted (shorter retention)",
            run.deleted,
            "rows",
            "rows written",
            run.written,
            "- (the rest dropped whole)",
        ),
    ]


def run() -> list[Row]:
    pg_base = os.environ.get("AITOPUP_BENCH_POSTGRES_URL", DEFAULT_PG)
    if "postgres" not in STORES:
        return []
    if not postgres_available(pg_base):
        print(f"PostgreSQL not reachable at {pg_base}: its rows are skipped")
        return []
    with postgres_database(pg_base) as database_url:
        return measure(database_url)


if __name__ == "__main__":
    run_alone(run)
