"""The workers' role with grants on the tables alone (docs/operations.md) makes and drops the
webhook history's weeks on PostgreSQL, through the tables' owner's two functions (migration
0079, which took the place of 0078's), and can do nothing else with them: a table outside the
history, a name not of the table's partitions, its ``DEFAULT`` partition, a range another
partition holds or caller text is refused, as is a caller that may not delete the table's rows;
the functions go with the migration down (0078's back) and come back up."""

import uuid
from collections.abc import AsyncGenerator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade_async
from gateway.store.partitions import HISTORY, SPAN, make_ahead, week_of
from gateway.values.clock import utcnow
from tests.fixtures.history import count_history, insert_endpoint, insert_history, where_is
from tests.fixtures.migrations import database_at, downgrade_to, insert_old_merchant, url_of
from worker.retention import drop_history, prune_history

TABLES = ("events", "webhook_deliveries", "webhook_attempts", "webhook_filtered")
OLD = "we_" + "a" * 24
_FUNCTIONS = "SELECT count(*) FROM pg_proc WHERE proname IN ('{}', '{}')"
_NOW = _FUNCTIONS.format("history_make_partition", "history_drop_partition")
_BEFORE = _FUNCTIONS.format("history_make_week", "history_drop_week")


def _dsn(url: str, user: str | None = None) -> str:
    made = make_url(url).set(drivername="postgresql")
    if user is not None:
        made = made.set(username=user, password=None)
    return made.render_as_string(hide_password=False)


async def _on(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _role(db: Database, *grants: str) -> AsyncGenerator[Database, None]:
    """A login role with ``grants`` (``{role}`` and ``{owner}`` filled in) on ``db``'s
    database, connected; dropped after."""
    role = f"aitopup_worker_{uuid.uuid4().hex[:10]}"
    url = url_of(db)
    async with db.read() as conn:
        owner = (await conn.execute(text("SELECT current_user"))).scalar_one()
    await _on(url, f"CREATE ROLE {role} LOGIN")
    worker = None
    try:
        await _on(url, *(g.format(role=role, owner=owner) for g in grants))
        worker_url = make_url(url).set(username=role, password=None)
        worker = open_database(worker_url.render_as_string(hide_password=False), pool_size=2)
        yield worker
    finally:
        if worker is not None:
            await worker.dispose()
        await _on(url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


# As docs/operations.md makes the workers' role, less its default privileges: grants on the
# tables there are, none on a partition the owner makes later (read through their tables).
_TABLE_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}",
)


async def _refused(db: Database, statement: str, code: str) -> None:
    with pytest.raises(DBAPIError) as raised:
        async with db.transaction() as conn:
            await conn.execute(text(statement))
    assert getattr(raised.value.orig, "sqlstate", None) == code, raised.value


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's history is one table each, with nothing to make or drop")


@pytest.mark.usefixtures("postgres_only")
async def test_the_workers_role_with_table_grants_makes_and_drops_weeks(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0079", database_url, tmp_path, request) as db:
        now = utcnow()
        first = week_of(now) + SPAN  # the migration's first week of its own
        gap = week_of(now) + 3 * SPAN  # a week not made yet: its row lands in the default
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await insert_endpoint(conn, "mer_old", OLD)
            await insert_history(conn, "mer_old", OLD, first + timedelta(days=1))
            stray = await insert_history(
                conn, "mer_old", OLD, gap + timedelta(days=1), status="pending"
            )
        roles = _role(db, *_TABLE_GRANTS)
        worker = await anext(roles)
        try:
            # The role itself may not make or drop a partition: only through the functions.
            await _refused(worker, f"DROP TABLE events_p{first:%Y%m%d}", "42501")

            made = await make_ahead(worker, now + 2 * SPAN)
            assert {f"{h.table}_p{gap:%Y%m%d}" for h in HISTORY} <= set(made)
            async with worker.read() as conn:
                assert await where_is(conn, "events", "id", stray.event_id) == (
                    f"events_p{gap:%Y%m%d}"
                )

            # The retention job's two steps, past 90 days after the first week.
            later = first + SPAN + timedelta(days=90, hours=1)
            dropped = await drop_history(worker, now=later, default_days=90)
            weeks = ("before", f"p{first:%Y%m%d}")
            assert set(dropped.partitions) == {f"{h.table}_{w}" for h in HISTORY for w in weeks}
            await prune_history(worker, now=later, default_days=90, whole_since=dropped.whole_since)
            async with worker.read() as conn:
                assert await count_history(conn, OLD) == dict.fromkeys(TABLES, 1)  # the gap's
                gone = text("SELECT to_regclass(:name)")
                for name in dropped.partitions:
                    assert (await conn.execute(gone, {"name": name})).scalar_one() is None

            # A week the role's function made, read for a pending delivery through its table
            # (no grant on the partition itself): kept whole, as its delivery is pending.
            past_gap = gap + SPAN + timedelta(days=91)
            dropped = await drop_history(worker, now=past_gap, default_days=90)
            assert dropped.kept == f"webhook_deliveries_p{gap:%Y%m%d}"
            assert f"events_p{gap:%Y%m%d}" not in dropped.partitions

            # Arguments outside the functions' own: refused, nothing made or dropped.
            events = HISTORY[0]
            low, high = events.floor(gap + 4 * SPAN), events.floor(gap + 5 * SPAN)
            for statement in (
                f"SELECT history_make_partition('merchants', 'merchants_p1', '{low}', '{high}')",
                "SELECT history_drop_partition('merchants', 'merchants_before')",
                "SELECT history_drop_partition('events; DROP TABLE merchants', 'events_before')",
                f"SELECT history_make_partition('events', 'merchants', '{low}', '{high}')",
                f"SELECT history_make_partition('events', 'events_p1', NULL, '{high}')",
                "SELECT history_drop_partition('events', 'events_default')",
                "SELECT history_drop_partition('events', 'merchants')",
            ):
                await _refused(worker, statement, "22023")
            # A range a partition holds already (the gap's week): PostgreSQL's own refusal.
            held = events.floor(gap), events.floor(gap + SPAN)
            await _refused(
                worker,
                f"SELECT history_make_partition('events', 'events_p1', '{held[0]}', '{held[1]}')",
                "42P17",
            )
            async with worker.read() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM merchants"))).scalar_one()
                found = text("SELECT to_regclass('events_p1')")
                assert (await conn.execute(found)).scalar_one() is None
        finally:
            await roles.aclose()


@pytest.mark.usefixtures("postgres_only")
async def test_a_caller_that_may_not_delete_the_rows_may_not_drop_their_week(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0079", database_url, tmp_path, request) as db:
        week = week_of(utcnow()) + SPAN
        roles = _role(
            db,
            "GRANT USAGE ON SCHEMA public TO {role}",
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        )
        reader = await anext(roles)
        try:
            events = HISTORY[0]
            await _refused(
                reader, f"SELECT history_drop_partition('events', 'events_p{week:%Y%m%d}')", "42501"
            )
            low, high = events.floor(week + 9 * SPAN), events.floor(week + 10 * SPAN)
            await _refused(
                reader,
                f"SELECT history_make_partition('events', 'events_p1', '{low}', '{high}')",
                "42501",
            )
        finally:
            await roles.aclose()
        async with db.read() as conn:
            found = text("SELECT to_regclass(:name)")
            assert (await conn.execute(found, {"name": f"events_p{week:%Y%m%d}"})).scalar_one()


@pytest.mark.usefixtures("postgres_only")
async def test_the_functions_go_down_and_come_back_up(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0079", database_url, tmp_path, request) as db:
        async with db.read() as conn:
            assert (await conn.execute(text(_NOW))).scalar_one() == 2
            assert (await conn.execute(text(_BEFORE))).scalar_one() == 0
        await downgrade_to(db, "0078")
        async with db.transaction() as conn:
            assert (await conn.execute(text(_NOW))).scalar_one() == 0
            assert (await conn.execute(text(_BEFORE))).scalar_one() == 2
            # 0078's own, as it made them: a week's partition from its Monday.
            week = week_of(utcnow()) + 8 * SPAN
            made = text("SELECT history_make_week('events', :week)")
            assert (await conn.execute(made, {"week": week.date()})).scalar_one()
        await downgrade_to(db, "0077")
        async with db.read() as conn:
            assert (await conn.execute(text(_BEFORE))).scalar_one() == 0
        await upgrade_async(url_of(db), "0079")
        async with db.read() as conn:
            assert (await conn.execute(text(_NOW))).scalar_one() == 2
            assert (await conn.execute(text(_BEFORE))).scalar_one() == 0
        assert await make_ahead(db, utcnow() + 4 * SPAN)
