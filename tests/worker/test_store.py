"""The worker's store on its own: which records need a transaction, how a lease and a record
find their rows."""

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from gateway.store.db import Database, open_database
from gateway.store.queue import Tried
from gateway.store.raw import Raw, Statement
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
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


def _literal(value: Any) -> str:
    if isinstance(value, list):
        value = "{" + ",".join("NULL" if v is None else f'"{v}"' for v in value) + "}"
    elif isinstance(value, datetime):
        value = value.isoformat()
    return f"'{value}'"


async def _plans(conn: Raw, statement: Statement, params: dict[str, Any]) -> list[str]:
    """The statement's plan as planned for these values, and as the plan kept for any values
    (a generic plan: what a prepared statement runs once PostgreSQL judges it good enough)."""
    sql, names, constants = statement.asyncpg
    values = ", ".join(_literal({**constants, **params}[name]) for name in names)
    await conn.fetch(Statement(f"PREPARE kept AS {sql}"), {})
    plans = []
    for mode in ("force_custom_plan", "force_generic_plan"):
        await conn.fetch(Statement(f"SET plan_cache_mode = {mode}"), {})
        execute = Statement(f"EXPLAIN EXECUTE kept({values})", ("step",))
        plans.append("\n".join(str(*row.values()) for row in await conn.fetch(execute, {})))
    await conn.fetch(Statement("DEALLOCATE kept"), {})
    await conn.fetch(Statement("RESET plan_cache_mode"), {})
    return plans


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
        return await _plans(conn, RECORD.one_statement, record)

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
    ``rows`` pending deliveries of one endpoint, ``dlv_1`` on. Its indexes' names, which
    PostgreSQL makes for the copies, by what each holds: ``held``, ``due``, ``key``."""
    fresh = "CREATE TEMP TABLE webhook_deliveries (LIKE public.webhook_deliveries"
    await conn.fetch(Statement(f"{fresh} INCLUDING ALL)"), {})
    filler = Statement(
        """INSERT INTO webhook_deliveries (id, event_id, endpoint_id, merchant_id, env,
            event_type, status, attempts, trigger, run_start, generation,
            next_attempt_at, created_at, updated_at)
        SELECT 'dlv_' || n, 'evt_' || n, 'we_1', 'm_1', 'staging', 'webhook.test',
            'pending', 0, 'auto', 0, 0, :now, :now, :now
        FROM generate_series(1, :rows) AS n"""
    )
    await conn.fetch(filler, {"now": now, "rows": rows})
    defined = Statement(
        """SELECT indexname, indexdef FROM pg_indexes
        WHERE tablename = 'webhook_deliveries' AND schemaname LIKE 'pg_temp%'"""
    )
    names = {}
    for index in await conn.fetch(defined, {}):
        definition = index["indexdef"]
        if "throttle_slot_us IS NOT NULL" in definition:
            names["held"] = index["indexname"]
        elif definition.endswith("(status, next_attempt_at)"):
            names["due"] = index["indexname"]
        elif definition.endswith("(id)"):
            names["key"] = index["indexname"]
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
        params = {"now": now, "until": now, "limit": 100}
        return names, await _plans(conn, DELIVERIES.queue.leasing, params)

    try:
        names, plans = await worker_db.run(explain, each_statement=True)
    finally:
        await worker_db.dispose()
    assert names.keys() == {"held", "due", "key"}, names
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
    """What the lease reads with its rows (``Deliveries.taken``), on the worker's sessions and a
    table without statistics: each delivery by its key, then its event and endpoint by theirs.
    The planner once started from the endpoints and read every delivery of each for the batch's
    ids."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's planner")
    worker_db = open_database(
        settings.database_url, pool_size=1, postgres_settings=POSTGRES_SETTINGS
    )

    async def explain(conn: Raw) -> tuple[dict[str, str], list[str]]:
        names = await _fresh_deliveries(conn, rows, utcnow())
        ids = [f"dlv_{n}" for n in range(1, 101)]
        return names, await _plans(conn, _TARGETS, {"ids": ids})

    try:
        names, plans = await worker_db.run(explain, each_statement=True)
    finally:
        await worker_db.dispose()
    for plan in plans:
        [deliveries] = _reads(plan, "webhook_deliveries")
        assert deliveries.startswith(f"->  Index Scan using {names['key']} "), plan
        assert "Index Cond: ((id)::text = ANY " in deliveries, plan
        for table in ("events", "webhook_endpoints"):
            [read] = _reads(plan, table)
            assert read.startswith(f"->  Index Scan using pk_{table} "), plan
            assert "Index Cond: ((id)::text = " in read, plan
        assert "Filter" not in plan.replace("Index Cond", ""), plan


async def test_an_ordered_endpoints_head_is_read_from_its_partial_index(
    settings: Settings, db: Database
) -> None:
    """The head lookup reads the index of pending deliveries of automatic runs, which holds
    none of the endpoint's finished ones: without it, it read every delivery the endpoint
    finished before its head (docs/performance.md)."""
    if db.is_sqlite:
        sql, _, constants = ordered._HEAD.sqlite

        async def explain_sqlite(conn: Raw) -> str:
            explain = Statement(f"EXPLAIN QUERY PLAN {sql}", ("id", "up", "no", "step"))
            bound = {**constants, "endpoint_id": "we_1"}
            rows = await conn.fetch(explain, bound)
            return " ".join(str(v) for row in rows for v in row.values())

        plan = await db.run(explain_sqlite, read_only=True)
        assert "ix_webhook_deliveries_ordered_head" in plan, plan
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
        return await _plans(conn, ordered._HEAD, {"endpoint_id": "we_1"})

    try:
        plans = await worker_db.run(explain, each_statement=True)
    finally:
        await worker_db.dispose()
    for plan in plans:  # as planned for the endpoint, and as kept for any
        assert "ix_webhook_deliveries" in plan or "Index" in plan, plan
        # The index's predicate is the query's: no finished row is read and filtered out.
        assert "Filter" not in plan, plan
        assert "Sort" not in plan, plan
