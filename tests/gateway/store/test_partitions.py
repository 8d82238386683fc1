"""The webhook history's partitions on PostgreSQL (``store.partitions``): made weeks ahead,
what the ``DEFAULT`` partition caught moved into its week's, a lookup by id read from one
partition; the weeks past the longest retention dropped whole, not deleted, a merchant with a
shorter retention pruned row by row, and a week with a delivery still pending kept. Time is the
``now`` each call is given. On SQLite there is nothing to make or drop."""

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.store import partitions
from gateway.store.migrate import upgrade_async
from gateway.store.partitions import (
    HISTORY,
    SPAN,
    Dropped,
    drop_past,
    lock_not_granted,
    make_ahead,
    pending_floor,
    week_of,
)
from gateway.values.clock import id_floor, utcnow
from gateway.webhooks.retention import Pruned
from tests.fixtures.core import wait_until
from tests.fixtures.history import count_history, insert_endpoint, insert_history, where_is
from tests.fixtures.migrations import database_at, insert_old_merchant, url_of
from tests.fixtures.plans import captured
from worker.retention import drop_history, prune_history

TABLES = ("events", "webhook_deliveries", "webhook_attempts", "webhook_filtered")
OLD, SHORT = "we_" + "a" * 24, "we_" + "b" * 24
_SHORT_MERCHANT = (
    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at, retention_days) "
    "VALUES ('mer_short', 'Short', 0, :now, 7)"
)


async def test_weeks_are_made_ahead_and_what_the_default_caught_moves_to_its_week(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0079", database_url, tmp_path, request) as db:
        now = utcnow()
        # The migration made the weeks ahead already.
        assert await make_ahead(db, now) == []
        if database_url.startswith("sqlite"):
            assert await drop_past(db, now) == Dropped()
            return
        # The worker was down for weeks: a row of a week never made lands in the default.
        gap = week_of(now) + 3 * SPAN
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await insert_endpoint(conn, "mer_old", OLD)
            stray = await insert_history(conn, "mer_old", OLD, gap + timedelta(days=1))
            assert await where_is(conn, "events", "id", stray.event_id) == "events_default"

        later = now + 5 * SPAN
        # Two workers' jobs at once (at startup): each week made once, by one of them.
        first, second = await asyncio.gather(make_ahead(db, later), make_ahead(db, later))
        made = first + second

        weeks = [gap + step * SPAN for step in range(5)]  # the gap's to two after ``later``'s
        assert sorted(made) == sorted(h.partition(week) for h in HISTORY for week in weeks)
        assert await make_ahead(db, later) == []
        async with db.read() as conn:
            for table, column, value in (
                ("events", "id", stray.event_id),
                ("webhook_deliveries", "id", stray.delivery_id),
                ("webhook_attempts", "delivery_id", stray.delivery_id),
                ("webhook_filtered", "event_id", stray.event_id),
            ):
                assert await where_is(conn, table, column, value) == f"{table}_p{gap:%Y%m%d}"
            for history in HISTORY:
                caught = f"SELECT count(*) FROM {history.default}"  # noqa: S608
                assert (await conn.execute(text(caught))).scalar_one() == 0
        # A delivery looked up by its id: one partition read, by its key's index (a table this
        # small would be scanned whole otherwise).
        async with db.transaction() as conn:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            explain = text("EXPLAIN SELECT * FROM webhook_deliveries WHERE id = :id")
            plan = "\n".join((await conn.execute(explain, {"id": stray.delivery_id})).scalars())
        assert "Index Scan" in plan, plan
        partition = f"webhook_deliveries_p{gap:%Y%m%d}"
        read = set(re.findall(r"webhook_deliveries_\w+", plan))
        assert read and all(name.startswith(partition) for name in read), plan


async def test_weeks_past_the_longest_retention_are_dropped_and_a_shorter_one_pruned(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's history is one table each: tests/worker/test_retention.py")
    async with database_at("0079", database_url, tmp_path, request) as db:
        first = week_of(utcnow()) + SPAN  # the migration's first week of its own
        now = first + SPAN + timedelta(days=90, hours=1)
        recent = now - timedelta(days=10)  # past the short merchant's 7 days, not 90
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await conn.execute(text(_SHORT_MERCHANT), {"now": utcnow()})
            await insert_endpoint(conn, "mer_old", OLD)
            await insert_endpoint(conn, "mer_short", SHORT)
            for merchant, endpoint in (("mer_old", OLD), ("mer_short", SHORT)):
                await insert_history(conn, merchant, endpoint, first + timedelta(days=1))
                await insert_history(conn, merchant, endpoint, recent)
            held = await insert_history(
                conn, "mer_old", OLD, first + SPAN + timedelta(days=1), status="pending"
            )
        await make_ahead(db, now)

        # Two workers' jobs at once: each partition dropped once, by one of them.
        both = await asyncio.gather(*(drop_history(db, now=now, default_days=90) for _ in "ab"))
        dropped = both[0]
        pruned = await prune_history(db, now=now, default_days=90, whole_since=dropped.whole_since)

        # The history from before partitioning and the first week: dropped whole, every table.
        weeks = ("before", f"p{first:%Y%m%d}")
        names = [name for each in both for name in each.partitions]
        assert sorted(names) == sorted(f"{h.table}_{w}" for h in HISTORY for w in weeks)
        assert all(each.kept is None and each.whole_since == first + SPAN for each in both)
        # Deleted row by row: the short merchant's recent week alone.
        assert pruned == Pruned(delivery_rows=1, attempt_rows=1, event_rows=1, filtered_rows=1)
        async with db.read() as conn:
            kept = {"events": 2, "webhook_deliveries": 2, "webhook_attempts": 2}
            assert await count_history(conn, OLD) == {**kept, "webhook_filtered": 2}
            assert await count_history(conn, SHORT) == dict.fromkeys(TABLES, 0)

        # A week past retention with a delivery still pending is kept whole, event and all.
        later = first + 2 * SPAN + timedelta(days=91)
        dropped = await drop_history(db, now=later, default_days=90)
        assert dropped.partitions == ()
        assert dropped.kept == f"webhook_deliveries_p{first + SPAN:%Y%m%d}"
        async with db.read() as conn:
            assert await where_is(conn, "events", "id", held.event_id) == (
                f"events_p{first + SPAN:%Y%m%d}"
            )

        # The weeks after it go on: the recent week, past retention in turn, is dropped.
        dropped = await drop_history(db, now=recent + timedelta(days=7 + 91), default_days=90)
        assert dropped.kept == f"webhook_deliveries_p{first + SPAN:%Y%m%d}"
        assert f"events_p{week_of(recent):%Y%m%d}" in dropped.partitions
        async with db.read() as conn:
            assert await count_history(conn, OLD) == dict.fromkeys(TABLES, 1)  # the one held


async def test_the_first_partition_s_old_rows_are_deleted_in_batches_then_it_is_dropped_whole(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The history written before the conversion (migration 0077) is one partition up to the
    next Monday: its rows past retention are deleted in the bounded batches, as before
    partitions, while its younger rows stay; once its last week is past the longest retention
    it is dropped whole, every table's, and nothing is deleted row by row any more. It is not
    split into weeks: that would copy every row still within retention."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's history is one table each: tests/worker/test_retention.py")
    async with database_at("0076", database_url, tmp_path, request) as db:
        now = utcnow()
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await insert_endpoint(conn, "mer_old", OLD)
            for days in (100, 97, 95, 10):
                await insert_history(conn, "mer_old", OLD, now - timedelta(days=days))
        await upgrade_async(url_of(db), "0079")
        first = week_of(now) + SPAN  # the first partition's bound

        # Three of its four past 90 days: deleted a row a batch, the partition kept.
        dropped = await drop_history(db, now=now, default_days=90)
        assert dropped.partitions == () and dropped.whole_since == first
        pruned = await prune_history(
            db, now=now, default_days=90, batch=1, whole_since=dropped.whole_since
        )
        assert pruned == Pruned(delivery_rows=3, attempt_rows=3, event_rows=3, filtered_rows=3)
        async with db.read() as conn:
            assert await count_history(conn, OLD) == dict.fromkeys(TABLES, 1)
            assert await where_is(conn, "events", "merchant_id", "mer_old") == "events_before"

        # Its last week past 90 days: dropped whole, nothing deleted.
        later = first + timedelta(days=90, hours=1)
        dropped = await drop_history(db, now=later, default_days=90)
        assert {f"{h.table}_before" for h in HISTORY} <= set(dropped.partitions)
        pruned = await prune_history(
            db, now=later, default_days=90, whole_since=dropped.whole_since
        )
        assert pruned == Pruned()
        async with db.read() as conn:
            assert await count_history(conn, OLD) == dict.fromkeys(TABLES, 0)


async def test_the_floor_of_pending_deliveries_reaches_the_history_from_before_partitions(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Just after the conversion, the history written before it is one partition up to next
    Monday: a delivery in it still pending, weeks old, is above the floor of the leases (which
    then reads from the least key), and once it is done the floor is last week's."""
    async with database_at("0079", database_url, tmp_path, request) as db:
        now = utcnow()
        if database_url.startswith("sqlite"):
            assert await pending_floor(db, now) == ""
            return
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await insert_endpoint(conn, "mer_old", OLD)
            old = await insert_history(conn, "mer_old", OLD, now - 3 * SPAN, status="pending")
            assert await where_is(conn, "webhook_deliveries", "id", old.delivery_id) == (
                "webhook_deliveries_before"
            )
        assert await pending_floor(db, now) == ""
        async with db.transaction() as conn:
            done = text("UPDATE webhook_deliveries SET status = 'succeeded' WHERE id = :id")
            await conn.execute(done, {"id": old.delivery_id})
        assert await pending_floor(db, now) == id_floor("dlv", week_of(now) - SPAN)


async def test_the_floor_is_one_statement_however_many_weeks_of_partitions_there_are(
    database_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twenty weeks made ahead, then looked at from after them: every week is below the week
    before ``now``, and the worker's look (once an idle poll) probes them all in one statement,
    each probe planned on its week alone. The first week holding a pending delivery is the
    floor; with none, last week's."""
    if database_url.startswith("sqlite"):
        pytest.skip("partitions are PostgreSQL's")
    async with database_at("0079", database_url, tmp_path, request) as db:
        now = utcnow()
        await make_ahead(db, now, weeks=20)
        later = week_of(now) + 22 * SPAN
        pending = week_of(now) + 9 * SPAN
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await insert_endpoint(conn, "mer_old", OLD)
            for week in (3, 14):  # a week before the pending one, and one after, done
                await insert_history(conn, "mer_old", OLD, week_of(now) + week * SPAN)
            held = await insert_history(
                conn, "mer_old", OLD, pending + timedelta(days=2), status="pending"
            )
            assert await where_is(conn, "webhook_deliveries", "id", held.delivery_id) == (
                f"webhook_deliveries_p{pending:%Y%m%d}"
            )
        with captured(db, monkeypatch) as seen:
            assert await pending_floor(db, later) == id_floor("dlv", pending)
        probes = [s for s, _ in seen if "status = 'pending'" in s]
        assert len(probes) == 1 and probes[0].count("LIMIT 1)") >= 20, seen
        async with db.read() as conn:
            explain = await conn.exec_driver_sql("EXPLAIN " + probes[0])
            plan = "\n".join(str(row[0]) for row in explain)
        # Each probe on its one week: as many partitions read as probes, each once.
        read = re.findall(r"on (webhook_deliveries_\w+)", plan)
        assert len(read) == len(set(read)) == probes[0].count("LIMIT 1)"), plan
        async with db.transaction() as conn:
            done = text("UPDATE webhook_deliveries SET status = 'succeeded' WHERE id = :id")
            await conn.execute(done, {"id": held.delivery_id})
        assert await pending_floor(db, later) == id_floor("dlv", later - SPAN)


async def test_a_drop_behind_a_long_transaction_lets_the_writes_asked_after_it_through(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A week's drop waits for its table's lock behind a transaction that writes to it. The
    writes asked after the drop are not queued behind it for as long as that transaction
    lasts: one gets through while the drop is still trying. Once the transaction ends, the
    week is dropped."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's history is one table each: nothing is dropped")
    async with database_at("0079", database_url, tmp_path, request) as db:
        first = week_of(utcnow()) + SPAN
        now = first + SPAN + timedelta(days=90, hours=1)
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await insert_endpoint(conn, "mer_old", OLD)
            await insert_history(conn, "mer_old", OLD, first + timedelta(days=1))
        await make_ahead(db, now)
        waiting = text(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'events'::regclass"
        )

        async def drop_waits() -> bool:
            async with db.read() as conn:
                return bool((await conn.execute(waiting)).scalar_one())

        async with db.engine.connect() as long, db.engine.connect() as later:
            await long.execute(text("LOCK TABLE events IN ROW EXCLUSIVE MODE"))  # as a write
            dropping = asyncio.create_task(drop_history(db, now=now, default_days=90))
            await wait_until(drop_waits)
            await later.execute(text("LOCK TABLE events IN ROW EXCLUSIVE MODE"))
            # Through while the long transaction still holds its lock, the drop still trying.
            assert not dropping.done()
            await later.commit()
            await long.commit()
            dropped = await asyncio.wait_for(dropping, 30)
        assert sorted(dropped.partitions) == sorted(
            f"{h.table}_{week}" for h in HISTORY for week in ("before", f"p{first:%Y%m%d}")
        )


async def test_a_drop_that_never_gets_its_lock_gives_up_with_an_error_told_by_its_sqlstate(
    database_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Behind a transaction that outlasts every try, the drop gives up with PostgreSQL's error
    for a lock not granted, which ``lock_not_granted`` tells by its SQLSTATE (the soak counts
    such a drop as one that goes on next day); another error of the store is not one."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's history is one table each: nothing is dropped")
    monkeypatch.setattr(partitions, "LOCK_TRIES", 2)
    monkeypatch.setattr(partitions, "LOCK_PAUSE_SECONDS", 0.0)
    async with database_at("0079", database_url, tmp_path, request) as db:
        first = week_of(utcnow()) + SPAN
        now = first + SPAN + timedelta(days=90, hours=1)
        await make_ahead(db, now)
        async with db.engine.connect() as long:
            await long.execute(text("LOCK TABLE events IN ROW EXCLUSIVE MODE"))
            with pytest.raises(DBAPIError) as gave_up:
                await drop_history(db, now=now, default_days=90)
            await long.commit()
        assert lock_not_granted(gave_up.value), gave_up.value
        with pytest.raises(DBAPIError) as other:
            async with db.read() as conn:
                await conn.execute(text("SELECT 1/0"))
        assert not lock_not_granted(other.value)
        assert not lock_not_granted(RuntimeError("lock timeout"))
