"""The worker's store on its own: which records need a transaction, how a lease and a record
find their rows."""

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gateway.store.db import open_database
from gateway.store.delivery_queue import QUEUE
from gateway.store.engine import Database
from gateway.store.partitions import AHEAD, SPAN, drop_past, make_ahead, pending_floor, week_of
from gateway.store.queue import Tried, lease
from gateway.store.raw import Raw, Statement
from gateway.values.clock import id_floor, utcnow
from gateway.values.settings import Settings
from gateway.webhooks import throttle
from tests.fixtures.history import insert_endpoint, insert_history
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.migrations import database_at, insert_old_merchant
from tests.fixtures.query_plans import plans_of, without_statistics
from tests.fixtures.webhooks import emit_test_events, make_endpoint
from worker import ordered
from worker.delivery import _TARGETS, DELIVERIES
from worker.store import POSTGRES_SETTINGS, RECORD, Claim, Record, _record_row

_NOW = utcnow()
_CLAIM = Claim(
    delivery_id="dlv_1",
    event_id="evt_1",
    endpoint_id="we_1",
    merchant_id="m_1",
    env="staging",
    attempts=0,
    trigger="auto",
    run_start=0,
    generation=1,
    payload="{}",
    type="webhook.test",
    url="https://hooks.example/a",
    secret_sealed="sealed",
    previous_secret_sealed=None,
    previous_secret_expires_at=None,
    failing_since=None,
)


def _record(tried: Tried, *, failing: bool, disable: bool = False) -> Record:
    claim = replace(_CLAIM, failing_since=_NOW if failing else None)
    return Record(
        claim=claim,
        tried=tried,
        next_at=None,
        started=_NOW,
        finished=_NOW,
        duration_ms=1,
        request_headers={},
        response_status=200 if tried is Tried.DONE else 500,
        response_headers={},
        response_body="",
        error=None if tried is Tried.DONE else "HTTP 500",
        disable_reason="gone" if disable else None,
    )


@pytest.mark.parametrize(
    ("tried", "failing", "disable", "changes"),
    [
        (Tried.DONE, False, False, False),  # the common case: rows only
        (Tried.DONE, True, False, True),  # the failure clock stops
        (Tried.AGAIN, False, False, True),  # the failure clock starts
        (Tried.AGAIN, True, False, False),  # still failing: the clock runs on
        (Tried.FAILED, True, True, True),  # the endpoint is disabled
    ],
)
def test_which_records_change_their_endpoint(
    tried: Tried, failing: bool, disable: bool, changes: bool
) -> None:
    assert _record(tried, failing=failing, disable=disable).changes_endpoint is changes


async def test_a_lease_reads_the_index_of_due_deliveries(db: Database) -> None:
    """The oldest due rows, from the index of due deliveries: never the whole table."""
    if not db.is_sqlite:
        pytest.skip("SQLite's plan")
    now = utcnow()
    sql, _, constants = DELIVERIES.queue.leasing.sqlite
    bound = {**constants, "now": now, "until": now, "limit": 50}

    async def explain(conn: Raw) -> str:
        explain = Statement(f"EXPLAIN QUERY PLAN {sql}", ("id", "up", "no", "step"))
        return " ".join(str(v) for row in await conn.fetch(explain, bound) for v in row.values())

    plan = await db.run(explain, read_only=True)
    assert "ix_webhook_deliveries_due" in plan, plan
    assert "SCAN webhook_deliveries" not in plan.replace("USING INDEX", "~"), plan


@pytest.mark.parametrize("rows", [0, 300])
async def test_postgres_statements_look_each_delivery_up_by_its_key(
    settings: Settings, db: Database, rows: int
) -> None:
    """The record, on the worker's sessions, on tables without statistics: each id of the batch
    looked up by its key, both as planned for the batch and as kept for the prepared statement.
    The planner once kept a scan of the table for such a batch, matched against every id, and
    ran it for every batch as the table grew."""
    if db.is_sqlite:
        pytest.skip("SQLite's plans: test_a_lease_reads_the_index_of_due_deliveries")
    worker_db = open_database(
        settings.database_url, pool_size=1, postgres_settings=POSTGRES_SETTINGS
    )
    now = utcnow()

    async def explain(conn: Raw) -> list[str]:
        await _fresh_deliveries(conn, rows, now)
        ids = [f"dlv_{n}" for n in range(1, 151)]
        names = _record_row(_record(Tried.DONE, failing=False))
        record = {name: [None] * len(ids) for name in names} | {
            "id": ids,
            "claimed": [0] * len(ids),
        }
        return await plans_of(conn, RECORD.one_statement, record)

    try:
        plans = await worker_db.run(explain, each_statement=True)
    finally:
        await worker_db.dispose()
    for plan in plans:
        lines = plan.splitlines()
        reads = [
            i
            for i, line in enumerate(lines)
            if "Scan" in line and " on webhook_deliveries " in line
        ]
        assert reads, plan
        for i in reads:  # an index scan, on the key, of one id from the batch at a time
            assert "Index Scan using" in lines[i], plan
            assert "Index Cond: ((id)::text = " in lines[i + 1], plan
        assert "Join Filter" not in plan, plan


async def _fresh_deliveries(conn: Raw, rows: int, now: datetime) -> dict[str, str]:
    """A deliveries table of the session's own, without statistics, shadowing the real one:
    ``rows`` pending deliveries of one endpoint, ``dlv_1`` on. Its indexes' names by what each
    holds: ``key``, ``due``, ``held``, ``held_endpoint``, ``batch``."""
    shapes = await without_statistics(conn, "webhook_deliveries")
    filler = Statement(
        """INSERT INTO webhook_deliveries (id, event_id, endpoint_id, merchant_id, env,
            event_type, status, attempts, trigger, run_start, generation,
            next_attempt_at, created_at, updated_at)
        SELECT 'dlv_' || n, 'evt_' || n, 'we_1', 'm_1', 'staging', 'webhook.test',
            'pending', 0, 'auto', 0, 0, :now, :now, :now
        FROM generate_series(1, :rows) AS n"""
    )
    await conn.fetch(filler, {"now": now, "rows": rows})
    kinds = {
        "(id)": "key",
        "(status, next_attempt_at)": "due",
        "(status, next_attempt_at) WHERE (throttle_slot_us IS NOT NULL)": "held",
        "(endpoint_id, id) WHERE (throttle_slot_us IS NOT NULL)": "held_endpoint",
    }
    names = {kinds[shape]: name for shape, name in shapes.items() if shape in kinds}
    [names["batch"]] = [n for shape, n in shapes.items() if shape.startswith("(batch_head,")]
    return names


def _reads(plan: str, table: str) -> list[str]:
    """The plan's reads of ``table``, each with the line after it (its condition)."""
    lines = [line.strip() for line in plan.splitlines()]
    return [
        f"{line} {lines[i + 1]}"
        for i, line in enumerate(lines)
        if "Scan" in line and f" on {table} " in f"{line} "
    ]


@pytest.mark.parametrize("rows", [0, 5000])
async def test_a_postgres_lease_reads_only_the_rows_it_takes(
    settings: Settings, db: Database, rows: int
) -> None:
    """The lease on the worker's sessions, on a table without statistics (a burst on a fresh
    database): the held rows from their own index, the others from the due index, and each row
    taken updated by its key, as planned and as kept. It once read every due row through the
    due index for each row it took, and every due row again for the held ones: a backlog made
    each lease slower (docs/performance.md)."""
    if db.is_sqlite:
        pytest.skip("SQLite's plan: test_a_lease_reads_the_index_of_due_deliveries")
    worker_db = open_database(
        settings.database_url, pool_size=1, postgres_settings=POSTGRES_SETTINGS
    )
    now = utcnow()

    async def explain(conn: Raw) -> tuple[dict[str, str], list[str]]:
        names = await _fresh_deliveries(conn, rows, now)
        params = {"now": now, "until": now, "limit": 100, "floor": ""}
        return names, await plans_of(conn, DELIVERIES.queue.leasing, params)

    try:
        names, plans = await worker_db.run(explain, each_statement=True)
    finally:
        await worker_db.dispose()
    for plan in plans:
        reads = _reads(plan, "webhook_deliveries")
        assert len(reads) == 3, plan
        held, due, taken = reads
        assert held.startswith(f"->  Index Scan using {names['held']} "), plan
        assert due.startswith(f"->  Index Scan using {names['due']} "), plan
        assert taken.startswith(f"->  Index Scan using {names['key']} "), plan
        assert "Join Filter" not in plan, plan


@pytest.mark.parametrize("rows", [0, 5000])
async def test_a_postgres_lease_reads_what_it_sends_by_keys(
    settings: Settings, db: Database, rows: int
) -> None:
    """What the lease reads with its rows (``Deliveries.taken``), on the worker's sessions and
    tables without statistics: each delivery by its key, then its event and endpoint by theirs.
    The planner once started from the endpoints and read every delivery of each for the batch's
    ids. The events and endpoints are copies of the test's own too: the real ones hold the
    statistics of whatever the rest of the run wrote, and a handful of endpoints made reading
    them all by their index, with a join filter, the cheaper plan."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's planner")
    worker_db = open_database(
        settings.database_url, pool_size=1, postgres_settings=POSTGRES_SETTINGS
    )
    joined = ("events", "webhook_endpoints")

    async def explain(conn: Raw) -> tuple[dict[str, str], list[str]]:
        names = await _fresh_deliveries(conn, rows, utcnow())
        for table in joined:
            names[table] = (await without_statistics(conn, table))["(id)"]
        ids = [f"dlv_{n}" for n in range(1, 101)]
        return names, await plans_of(conn, _TARGETS, {"ids": ids})

    try:
        names, plans = await worker_db.run(explain, each_statement=True)
    finally:
        await worker_db.dispose()
    for plan in plans:
        [deliveries] = _reads(plan, "webhook_deliveries")
        assert deliveries.startswith(f"->  Index Scan using {names['key']} "), plan
        assert "Index Cond: ((id)::text = ANY " in deliveries, plan
        for table in joined:
            [read] = _reads(plan, table)
            assert read.startswith(f"->  Index Scan using {names[table]} "), plan
            assert "Index Cond: ((id)::text = " in read, plan
        assert "Filter" not in plan.replace("Index Cond", ""), plan


_LATER = utcnow()


@pytest.mark.parametrize(
    ("statement", "params", "index"),
    [
        # Each row of a lease shares its end: read by the due index, a put-off read the lease.
        (
            ordered._PUT_OFF,
            {"id": "dlv_1", "generation": 1, "lease_end": _LATER, "at": _LATER, "now": _LATER},
            "key",
        ),
        (
            throttle._HELD_AFTER,
            {"endpoint_id": "we_1", "since": "dlv_1", "from_us": 0},
            "held_endpoint",
        ),
        (
            ordered._SAME_BATCH,
            {"endpoint_id": "we_1", "head": "dlv_1", "most": 9, "until": _LATER, "now": _LATER},
            "batch",
        ),
    ],
    ids=["put off", "held after", "same batch"],
)
async def test_a_postgres_delivery_statement_reads_no_backlog(
    settings: Settings, db: Database, statement: Statement, params: dict[str, Any], index: str
) -> None:
    """Statements of a lease's trip, on the worker's sessions and a table of 5,000 pending
    deliveries without statistics: each first reads the index that holds only what it looks
    for, as planned and as kept, not the endpoint's or the lease's every row."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's planner")
    worker_db = open_database(
        settings.database_url, pool_size=1, postgres_settings=POSTGRES_SETTINGS
    )

    async def explain(conn: Raw) -> tuple[dict[str, str], list[str]]:
        names = await _fresh_deliveries(conn, 5000, utcnow())
        return names, await plans_of(conn, statement, params)

    try:
        names, plans = await worker_db.run(explain, each_statement=True)
    finally:
        await worker_db.dispose()
    for plan in plans:
        first = _reads(plan, "webhook_deliveries")[0]
        assert f"Index Scan using {names[index]} " in first, plan
        assert "Join Filter" not in plan, plan


async def test_an_ordered_endpoints_head_is_read_from_its_partial_index(
    settings: Settings, db: Database
) -> None:
    """The heads' lookup (two endpoints' in one statement) reads the index of pending
    deliveries of automatic runs for each, which holds none of the endpoint's finished ones:
    without it, it read every delivery the endpoint finished before its head
    (docs/performance.md)."""
    heads = ordered._heads(2)
    endpoints = {"endpoint_0": "we_1", "endpoint_1": "we_2"}
    if db.is_sqlite:
        sql, _, constants = heads.sqlite

        async def explain_sqlite(conn: Raw) -> str:
            explain = Statement(f"EXPLAIN QUERY PLAN {sql}", ("id", "up", "no", "step"))
            bound = {**constants, **endpoints}
            rows = await conn.fetch(explain, bound)
            return " ".join(str(v) for row in rows for v in row.values())

        plan = await db.run(explain_sqlite, read_only=True)
        assert plan.count("ix_webhook_deliveries_ordered_head") == 2, plan
        assert "TEMP B-TREE" not in plan, plan
        return
    worker_db = open_database(
        settings.database_url, pool_size=1, postgres_settings=POSTGRES_SETTINGS
    )

    async def explain(conn: Raw) -> list[str]:
        fresh = "CREATE TEMP TABLE webhook_deliveries (LIKE public.webhook_deliveries"
        await conn.fetch(Statement(f"{fresh} INCLUDING ALL)"), {})
        # Thousands finished before a few pending, over four endpoints, with statistics.
        filler = Statement(
            """INSERT INTO webhook_deliveries (id, event_id, endpoint_id, merchant_id, env,
                event_type, status, attempts, trigger, run_start, generation,
                next_attempt_at, created_at, updated_at)
            SELECT 'dlv_' || lpad(n::text, 8, '0'), 'evt_' || n, 'we_' || (n % 4), 'm_1',
                'staging', 'webhook.test',
                CASE WHEN n < 19000 THEN 'succeeded' ELSE 'pending' END, 1, 'auto', 0, 1,
                :now, CAST(:now AS timestamptz) - make_interval(secs => 20000 - n), :now
            FROM generate_series(1, 20000) AS n"""
        )
        await conn.fetch(filler, {"now": utcnow()})
        await conn.fetch(Statement("ANALYZE webhook_deliveries"), {})
        return await plans_of(conn, heads, endpoints)

    try:
        plans = await worker_db.run(explain, each_statement=True)
    finally:
        await worker_db.dispose()
    for plan in plans:  # as planned for the endpoint, and as kept for any
        assert "ix_webhook_deliveries" in plan or "Index" in plan, plan
        # The index's predicate is the query's: no finished row is read and filtered out.
        assert "Filter" not in plan, plan
        assert "Sort" not in plan, plan


def test_a_delivery_lease_writes_no_indexed_column() -> None:
    """What a lease writes (its stamp, its end, ``updated_at``) is in no index of the
    deliveries: on PostgreSQL the row is rewritten in place, with no index entry, and SQLite
    rewrites no index."""
    indexed = {c.name for index in QUEUE.table.indexes for c in index.columns}
    indexed |= {c.name for c in QUEUE.table.primary_key.columns}
    for constraint in QUEUE.table.constraints:
        indexed |= {c.name for c in getattr(constraint, "columns", ())}
    written = {QUEUE.stamp, QUEUE.lease_end, "updated_at"}
    assert QUEUE.lease_end == "leased_until"
    assert not written & indexed, written & indexed


async def test_a_postgres_lease_rewrites_its_rows_in_place(
    db: Database,
    make_merchant: MakeMerchant,
    hook_client: httpx.AsyncClient,
) -> None:
    """100 fresh deliveries leased in one statement: each rewritten in place (a heap-only
    update), as counted by PostgreSQL in the lease's own transaction."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's heap-only updates")
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, "http://127.0.0.1:9/in-place")  # never sent
    await emit_test_events(db, merchant.merchant_id, 100)
    counted = Statement(
        # Summed over the table's partitions (``store.partitions``), where its rows are.
        """SELECT sum(pg_stat_get_xact_tuples_hot_updated(relid))::int AS hot,
            sum(pg_stat_get_xact_tuples_updated(relid))::int AS updated
            FROM pg_partition_tree('webhook_deliveries')""",
        ("hot", "updated"),
    )

    async def leased(tx: Raw) -> tuple[int, int, int]:
        rows = await lease(tx, QUEUE, utcnow(), 30, 100)
        found = await tx.fetchrow(counted, {})
        assert found is not None
        return len(rows), found["hot"], found["updated"]

    taken, hot, updated = await db.run(leased)
    assert taken == updated == 100
    # Pages are left half free (migration 0056): nearly every leased row's new version fits
    # beside it (94 of 100 here; a lease that wrote its end to the due index's column, none).
    assert hot >= 80, (hot, updated)


def test_a_delivery_lease_hands_back_what_sending_reads() -> None:
    """The columns ``QUEUE.returns`` names, of which one timestamp (its lease's end); not the
    rest (the due time, the status, the type, when it was written), which every row leased
    would decode for nothing. What each holds is every delivery test's to see."""
    assert QUEUE.returns is not None
    assert list(QUEUE.leasing.columns) == list(QUEUE.returns)
    assert QUEUE.returned_times == ("leased_until",)
    assert {"next_attempt_at", "status", "event_type"}.isdisjoint(QUEUE.returns)


async def test_a_postgres_lease_plans_only_the_weeks_that_hold_pending_deliveries(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On a year of weekly partitions, the lease and the look for the next due row, planned
    for their values as behind a pooler that keeps no prepared statements: with the floor
    (``partitions.pending_floor``), only the weeks from the oldest holding a pending delivery
    (never later than last week) and the ``DEFAULT`` partition, not the year; a delivery of an
    older week made pending again lowers the floor to its week at the next look."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's history is one table")
    async with database_at("0079", database_url, tmp_path, request) as db:
        now = utcnow()
        this_week = week_of(now)
        await drop_past(db, this_week + SPAN)  # the migration's first partition, empty
        for weeks_back in range(52, -1, -1):
            if weeks_back != 30:  # a week never made: what it holds the default catches
                await make_ahead(db, this_week - weeks_back * SPAN, weeks=0)
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await insert_endpoint(conn, "mer_old", OLD)
            old = await insert_history(conn, "mer_old", OLD, now - 20 * SPAN)
            await insert_history(conn, "mer_old", OLD, now, status="pending")

        async def planned(since: str) -> set[str]:
            async def explain(conn: Raw) -> set[str]:
                params = {"now": now, "until": now, "limit": 100, "floor": since}
                custom = (await plans_of(conn, QUEUE.leasing, params))[0]
                looked = (await plans_of(conn, QUEUE.next_due, params))[0]
                return set(_PARTITION.findall(custom)) | set(_PARTITION.findall(looked))

            return await db.run(explain, each_statement=True)

        everything = await planned("")
        # The year's weeks (but one), the weeks made ahead and the default.
        assert len(everything) == 52 + AHEAD + 1, everything

        def since(week: datetime) -> set[str]:
            return {p for p in everything if p.endswith("default") or p[-8:] >= f"{week:%Y%m%d}"}

        floor = await pending_floor(db, now)
        assert floor == id_floor("dlv", this_week - SPAN)
        assert await planned(floor) == since(this_week - SPAN)
        assert len(since(this_week - SPAN)) == 2 + AHEAD + 1

        async with db.transaction() as conn:  # a replay of the old week's delivery
            replayed = text("UPDATE webhook_deliveries SET status = 'pending' WHERE id = :id")
            await conn.execute(replayed, {"id": old.delivery_id})
        floor = await pending_floor(db, now)
        assert floor == id_floor("dlv", week_of(now - 20 * SPAN))
        assert await planned(floor) == since(week_of(now - 20 * SPAN))

        async with db.transaction() as conn:  # in the week never made: in the default
            await insert_history(conn, "mer_old", OLD, now - 30 * SPAN, status="pending")
        floor = await pending_floor(db, now)
        assert floor == id_floor("dlv", this_week - 30 * SPAN)
        assert await planned(floor) == since(this_week - 30 * SPAN)


OLD = "we_" + "a" * 24
_PARTITION = re.compile(r" on (webhook_deliveries_(?:p\d{8}|default|before))\b")
