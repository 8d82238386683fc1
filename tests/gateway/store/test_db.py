import asyncio
import functools
import os
import random
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
from sqlalchemy import text

from gateway.merchants.service import create_merchant
from gateway.store import sqlite as store_sqlite
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.raw import Raw, Statement, UniqueViolated, raw
from gateway.values.clock import utcnow
from tests.fixtures.core import wait_until


async def test_a_driver_statement_run_first_is_inside_its_transaction(db: Database) -> None:
    """A driver statement (``store.raw``) run first in a transaction is part of it: rolled back
    with it, and invisible to other connections until it commits. SQLAlchemy's asyncpg adapter
    alone begins only before its own first statement, so one run first would be autocommitted."""
    async with db.transaction() as conn:
        merchant = await create_merchant(
            conn,
            db,
            name=f"first-{random.randrange(10**9)}",
            low_balance_threshold_cents=0,
            staging_initial_balance_cents=0,
            now=utcnow(),
        )
    rename = Statement("UPDATE merchants SET name = :name WHERE id = :id")

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with db.transaction() as conn:
            tx = await raw(conn)
            assert tx.driver.in_transaction if db.is_sqlite else tx.driver.is_in_transaction()
            await tx.fetch(rename, {"name": "renamed", "id": merchant.id})
            raise Undo
    async with db.read() as conn:
        found = await conn.execute(
            text("SELECT name FROM merchants WHERE id = :id"), {"id": merchant.id}
        )
    name = found.scalar_one()
    assert name == merchant.name


async def test_sqlite_transactions_take_the_write_lock_up_front(db: Database) -> None:
    """A deferred transaction that upgrades to a write later fails with SQLITE_BUSY whatever the
    timeout; every transaction here starts with BEGIN IMMEDIATE instead."""
    if not db.is_sqlite:
        pytest.skip("SQLite only")
    path = str(db.engine.url.database)
    async with db.transaction():
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_held_write_lock_is_looked_at_again_every_half_millisecond(tmp_path: Path) -> None:
    """SQLite's busy handler would look again after 1, 2, 5, 10 … 100 ms, so a writer that lost
    the lock a few times slept for up to a tenth of a second: the wait is polled instead."""
    path = tmp_path / "lock.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    looks: list[str] = []
    waiter.set_trace_callback(lambda sql: looks.append(sql) if sql == "BEGIN IMMEDIATE" else None)
    release = threading.Timer(0.05, lambda: holder.execute("ROLLBACK"))
    release.start()
    store_sqlite._begin_immediate(waiter)
    assert waiter.in_transaction
    assert len(looks) >= 10, looks  # about a hundred, on a quiet machine
    waiter.execute("ROLLBACK")
    release.join()
    holder.close()
    waiter.close()


def test_a_write_lock_held_too_long_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_sqlite, "LOCK_WAIT_SECONDS", 0.05)
    path = tmp_path / "lock.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store_sqlite._begin_immediate(waiter)
    assert not waiter.in_transaction
    holder.execute("ROLLBACK")
    holder.close()
    waiter.close()


async def test_both_ways_into_a_sqlite_transaction_wait_for_another_writer(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver path (``Database.run``) and SQLAlchemy's (``Database.begin``) both wait for a
    lock another process holds, and get it once it is released."""
    if not db.is_sqlite:
        pytest.skip("SQLite only")
    other = sqlite3.connect(str(db.engine.url.database), isolation_level=None)
    one = Statement("SELECT 1 AS n", ("n",))
    # Every look at the lock, seen on the writer's thread: a way that waits looks again after
    # finding the lock taken; one that gave up, or went around the lock, would not.
    looks: list[str] = []
    begin_immediate = store_sqlite._begin_immediate

    def counted(connection: sqlite3.Connection) -> None:
        connection.set_trace_callback(
            lambda sql: looks.append(sql) if sql == "BEGIN IMMEDIATE" else None
        )
        try:
            begin_immediate(connection)
        finally:
            connection.set_trace_callback(None)

    monkeypatch.setattr(store_sqlite, "_begin_immediate", counted)

    async def by_driver(tx: Raw) -> object:
        return await tx.fetchrow(one, {})

    for way in ("run", "begin"):
        other.execute("BEGIN IMMEDIATE")
        if way == "run":
            waiting = asyncio.ensure_future(db.run(by_driver))
        else:

            async def by_sqlalchemy() -> None:
                async with db.transaction() as conn:
                    await conn.exec_driver_sql("SELECT 1")

            waiting = asyncio.ensure_future(by_sqlalchemy())
        looks.clear()
        await wait_until(functools.partial(_looked_again, looks, waiting), within=5, interval=0.005)
        assert not waiting.done(), way
        other.execute("ROLLBACK")
        await asyncio.wait_for(waiting, 5)
    other.close()


async def _looked_again(looks: list[str], waiting: "asyncio.Future[object]") -> bool:
    """The waiter found the lock taken and looked again, or it is done (and the test fails)."""
    return len(looks) >= 2 or waiting.done()


async def test_the_sqlite_reader_sees_commits_and_cannot_write(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite only")
    count = Statement("SELECT count(*) FROM merchants", ("n",))
    before = await db.run(lambda reader: reader.fetchrow(count, {}), read_only=True)
    async with db.transaction() as conn:
        await create_merchant(
            conn,
            db,
            name="read",
            low_balance_threshold_cents=0,
            staging_initial_balance_cents=0,
            now=utcnow(),
        )
    after = await db.run(lambda reader: reader.fetchrow(count, {}), read_only=True)
    assert before is not None and after is not None and after["n"] == before["n"] + 1
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await db.run(
            lambda reader: reader.fetch(Statement("DELETE FROM merchants"), {}), read_only=True
        )


async def test_the_wal_is_checkpointed_off_the_commit_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits never checkpoint (``wal_autocheckpoint=0``); every ``CHECKPOINT_EVERY`` of them a
    checkpoint runs on a connection of its own, so the WAL stops growing.

    On a file of the test's own: the WAL file's size is the furthest the WAL ever reached, so
    on the file the other tests share their writes would set it. And each checkpoint is let finish
    before the next write: one slowed by a busy machine (a stalled sync), with writes racing on
    meanwhile, would lengthen the file for good and say nothing of whether checkpoints run."""
    monkeypatch.setattr(store_sqlite, "CHECKPOINT_EVERY", 10)
    path = tmp_path / "wal.db"
    database = open_database(f"sqlite+aiosqlite:///{path}")
    async with database.transaction() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (n INTEGER, pad BLOB)")
    insert = Statement("INSERT INTO t (n, pad) VALUES (:n, zeroblob(6000))")
    wal = Path(f"{path}-wal")

    async def write(tx: Raw, *, n: int) -> None:
        await tx.fetch(insert, {"n": n})

    async def writes(count: int) -> int:
        for n in range(count):
            await database.run(functools.partial(write, n=n))
            await wait_until(lambda: _settled(database))
        return await asyncio.to_thread(os.path.getsize, wal)

    try:
        first = await writes(20)
        grown = await writes(200)
    finally:
        await database.dispose()
    # Without checkpoints 200 more transactions would make the WAL about ten times longer; a
    # checkpointed WAL is rewritten from its start, so it stays near its first size.
    assert grown < 3 * first


async def _settled(db: Database) -> bool:
    assert isinstance(db, store_sqlite.SQLiteDatabase)
    task = db._checkpointing
    return task is None or task.done()


async def test_reads_cancelled_by_an_anyio_scope_never_keep_the_write_lock(tmp_path: Path) -> None:
    """An anyio cancel scope (Starlette's, when a streaming client leaves) cancels every await
    of SQLAlchemy's own clean-up too. Whatever moment it strikes, the file's write lock is free
    once the reads are gone, and the one writer connection still works."""
    path = tmp_path / "cancel.db"
    database = open_database(f"sqlite+aiosqlite:///{path}")
    async with database.transaction() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    other = sqlite3.connect(path, isolation_level=None, timeout=2)
    one = Statement("SELECT count(*) AS n FROM t", ("n",))

    async def read() -> None:
        for _ in range(3):
            async with database.read() as conn:
                await conn.exec_driver_sql("SELECT count(*) FROM t")

    try:
        for round_ in range(300):
            # From before the first await to well after the last: every moment in between.
            with anyio.move_on_after(random.random() * 0.004):
                async with anyio.create_task_group() as group:
                    for _ in range(3):
                        group.start_soon(read)
            if round_ % 30 == 29:
                other.execute("BEGIN IMMEDIATE")  # fails after 2 s if a cancelled read holds it
                other.execute("ROLLBACK")
                assert await database.run(lambda tx: tx.fetchrow(one, {})) == {"n": 0}
                async with database.transaction() as conn:
                    await conn.exec_driver_sql("SELECT 1")
    finally:
        other.close()
        await database.dispose()


async def test_a_connection_left_in_a_transaction_is_never_reused(db: Database) -> None:
    """What a task cancelled inside SQLAlchemy's BEGIN leaves on PostgreSQL: asyncpg's transaction
    begun, the adapter unaware, so the pool's rollback sends nothing. Reused, the next
    transaction would be a savepoint inside it, and what it "committed" nobody else would see."""
    async with _pool_of_one(db, "leftover_check (n int)") as (database, admin):
        async with database.read() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.transaction().start()
        async with database.transaction() as conn:
            await conn.execute(text("INSERT INTO leftover_check VALUES (1)"))
        assert await admin.fetchval("SELECT count(*) FROM leftover_check") == 1


@asynccontextmanager
async def _pool_of_one(
    db: Database, table: str, *, bound: float | None = None
) -> AsyncIterator[tuple[Database, asyncpg.Connection]]:
    """PostgreSQL: a ``Database`` of one pooled connection, a connection of the test's own
    beside it, and a table (``name (columns)``) dropped after. ``bound``: how long a call
    waits for the connection (its statements three times as long)."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")
    url = db.engine.url.render_as_string(hide_password=False)
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    await admin.execute(f"CREATE TABLE {table}")
    if bound is None:
        database = open_database(url, pool_size=1)
    else:
        database = open_database(url, pool_size=1, pool_timeout=bound, command_timeout=3 * bound)
    try:
        yield database, admin
    finally:
        await database.dispose()
        await admin.execute(f"DROP TABLE {table.partition(' ')[0]}")
        await admin.close()


class _Refused(Exception):
    pass


async def _group_file(tmp_path: Path) -> Database:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'group.db'}")
    async with database.transaction() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    return database


async def _rows(database: Database) -> list[int]:
    async with database.read() as conn:
        return [n for (n,) in (await conn.exec_driver_sql("SELECT n FROM t ORDER BY n")).all()]


_INSERT = Statement("INSERT INTO t (n) VALUES (:n)")


def _batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches SQLite's writer runs from now on, in order."""
    batches: list[int] = []
    run_batch = store_sqlite._run_batch

    def each_batch(
        connection: sqlite3.Connection, works: list[Any], checked_out: bool = False
    ) -> object:
        batches.append(len(works))
        return run_batch(connection, works, checked_out)

    monkeypatch.setattr(store_sqlite, "_run_batch", each_batch)
    return batches


async def test_works_queued_together_commit_together_and_fail_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit on SQLite: works that queue while the writer is busy go to it in one
    transaction, and one that raises takes back its own writes alone, its caller alone hearing
    of it, as if each had had a transaction of its own."""
    batches = _batch_sizes(monkeypatch)
    database = await _group_file(tmp_path)

    async def insert(tx: Raw, *, n: int) -> int:
        await tx.fetch(_INSERT, {"n": n})
        if n == 5:
            raise _Refused
        return n

    try:
        results = await asyncio.gather(
            *(database.run(functools.partial(insert, n=n)) for n in range(10)),
            return_exceptions=True,
        )
        assert await _rows(database) == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    finally:
        await database.dispose()
    heard = [type(r) if isinstance(r, BaseException) else r for r in results]
    assert heard == [0, 1, 2, 3, 4, _Refused, 6, 7, 8, 9]
    assert batches == [1, 9]  # the first at once, alone; the nine queued behind it together


def _temporary_files() -> list[str]:
    """The files of SQLite's own temporary folder this process has open (``etilqs_*``)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since the folder was listed
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


async def test_a_batch_keeps_what_it_would_take_back_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each work of a batch runs in a savepoint, so SQLite keeps a copy of every page it
    changes, to take that work back alone. Past 64 KiB that copy went to a file in the system's
    temporary folder, a write a page, and the batch's statements waited on that disk. The store
    keeps it in memory: no temporary file is open while a batch changes far more than that."""
    batches = _batch_sizes(monkeypatch)
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'undo.db'}")
    async with database.transaction() as conn:
        await conn.exec_driver_sql("CREATE TABLE w (id INTEGER PRIMARY KEY, pad BLOB)")
        # 3,000 rows of 2 KB, two a page; each work below changes every 90th row, so some 34
        # pages, and a batch of 32 about 1,000 pages (4 MB).
        await conn.exec_driver_sql(
            "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 2999) "
            "INSERT INTO w (id, pad) SELECT n, zeroblob(2000) FROM s"
        )
    change = Statement("UPDATE w SET pad = zeroblob(1990) WHERE id % 90 = :n")
    seen: list[str] = []

    async def update(tx: Raw, *, n: int) -> None:
        await tx.fetch(change, {"n": n})
        seen.extend(_temporary_files())

    async def first(tx: Raw) -> None:
        pass  # the writer is busy with it while the others queue together

    try:
        await asyncio.gather(
            database.run(first),
            *(database.run(functools.partial(update, n=n)) for n in range(store_sqlite.BATCH_MAX)),
        )
    finally:
        await database.dispose()
    assert batches == [1, store_sqlite.BATCH_MAX]
    assert seen == []


async def test_a_batch_whose_transaction_fails_keeps_nothing(tmp_path: Path) -> None:
    """When the transaction itself ends (here a work rolls it back, as SQLite does on some
    errors), the works before it in the batch are gone too: every caller hears the error,
    none a result that was not kept."""
    database = await _group_file(tmp_path)

    async def insert(tx: Raw, *, n: int) -> int:
        await tx.fetch(_INSERT, {"n": n})
        return n

    async def end_it(tx: Raw) -> None:
        await tx.fetch(Statement("ROLLBACK"), {})
        raise _Refused

    async def first(tx: Raw) -> str:
        return "alone"  # the writer is busy with it while the three below queue together

    try:
        results = await asyncio.gather(
            database.run(first),
            database.run(functools.partial(insert, n=1)),
            database.run(end_it),
            database.run(functools.partial(insert, n=2)),
            return_exceptions=True,
        )
        assert await _rows(database) == []
        assert await database.run(functools.partial(insert, n=3)) == 3  # the writer goes on
        assert await _rows(database) == [3]
    finally:
        await database.dispose()
    assert results[0] == "alone"
    assert [type(r) for r in results[1:]] == [_Refused, _Refused, _Refused]


_INSERT_JOINED = Statement("INSERT INTO joined_check (n) VALUES (:n)")
# The top transaction's id: a savepoint's rows have an xmin of their own.
_JOINED_TABLE = "joined_check (n int PRIMARY KEY, tx bigint NOT NULL DEFAULT txid_current())"


async def _insert_joined(tx: Raw, *, n: int) -> int:
    await tx.fetch(_INSERT_JOINED, {"n": n})
    return n


async def _each_joining(database: Database, numbers: list[int]) -> list[object]:
    """Each of ``numbers`` inserted by a work of its own, all at once; their outcomes."""
    return await asyncio.gather(
        *(
            database.run(functools.partial(_insert_joined, n=n), each_statement=True)
            for n in numbers
        ),
        return_exceptions=True,
    )


async def test_postgres_joins_works_that_find_every_connection_taken(db: Database) -> None:
    """Group commit on PostgreSQL: works whose statements each stand alone (``each_statement``)
    that find every connection of the pool taken join one batch, in one transaction. One that
    is refused takes nothing of the others with it, and it alone hears of it: the others still
    commit together, not one by one."""
    async with _pool_of_one(db, _JOINED_TABLE) as (database, admin):
        assert await _each_joining(database, [0]) == [0]  # the pool's one connection, opened
        assert await _each_joining(database, [1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]
        # Rows one transaction wrote share its id: the first took the connection, the four
        # that found it taken went in together.
        rows = await admin.fetch("SELECT n, tx FROM joined_check WHERE n > 0")
        assert len({row["tx"] for row in rows}) == 2
        refused = await _each_joining(database, [6, 7, 7, 8])
        assert refused[:2] == [6, 7] and refused[3] == 8
        assert isinstance(refused[2], UniqueViolated)
        assert refused[2].table == "joined_check"
        kept = await admin.fetch("SELECT n, tx FROM joined_check ORDER BY n")
        assert [row["n"] for row in kept] == list(range(9))
        assert kept[7]["tx"] == kept[8]["tx"]  # 7 and 8, beside the second 7: one commit


async def test_postgres_commits_a_refused_batch_in_transactions_of_at_most_64_savepoints(
    db: Database,
) -> None:
    """A batch of more works than a session shows others savepoints of (64) that runs apart,
    one refused: the rest commit together as before, but at most 64 a transaction, so no
    transaction's savepoints overflow what every other session's snapshot reads."""
    async with _pool_of_one(db, _JOINED_TABLE) as (database, admin):
        assert await _each_joining(database, [0]) == [0]
        results = await _each_joining(database, [*range(1, 151), 75])
        assert results[:-1] == list(range(1, 151))
        assert isinstance(results[-1], UniqueViolated)
        rows = await admin.fetch("SELECT tx, count(*) AS n FROM joined_check GROUP BY tx")
        sizes = sorted(row["n"] for row in rows)
        assert sum(sizes) == 151
        # The first work took the connection alone; the 150 that found it taken went together,
        # three commits of them rather than one or 150.
        assert max(sizes) == 64
        assert len(sizes) <= 5


_INSERT_STALLED = Statement("INSERT INTO stalled_check (n) VALUES (:n)")
_STALL = Statement("SELECT pg_sleep(:s)")


async def _insert_stalled(tx: Raw, *, n: int) -> int:
    await tx.fetch(_INSERT_STALLED, {"n": n})
    return n


async def _stall(tx: Raw, *, seconds: float) -> None:
    await tx.fetch(_STALL, {"s": seconds})


def _joining(database: Database, n: int) -> "asyncio.Task[int]":
    work = functools.partial(_insert_stalled, n=n)
    return asyncio.ensure_future(database.run(work, each_statement=True))


async def _stalling(database: Database, admin: asyncpg.Connection, seconds: float) -> Any:
    """The pool's one connection held ``seconds`` by a statement the server keeps waiting,
    once the server runs it."""
    holding = asyncio.ensure_future(
        database.run(functools.partial(_stall, seconds=seconds), each_statement=True)
    )

    async def sleeping() -> bool:
        found = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
        )
        return bool(found)

    await wait_until(sleeping)
    return holding


async def test_a_joined_work_waits_for_a_connection_as_long_as_it_would_have_alone(
    db: Database,
) -> None:
    """A stall on PostgreSQL (the pool's one connection held past the pool's bound): the batch
    waiting for it stays open, so works join it at different times. The first to join, whose
    own wait passes the bound, hears the pool's timeout, as it would have alone; one that
    joined later is not failed with it, and commits once the connection comes."""
    bound = 3.0
    loop = asyncio.get_running_loop()
    async with _pool_of_one(db, "stalled_check (n int)", bound=bound) as (database, admin):
        assert await _joining(database, 0) == 0
        # Past the first's bound, within the second's (it joins half a bound later).
        holding = await _stalling(database, admin, 1.25 * bound)
        began = loop.time()
        first = _joining(database, 1)
        await asyncio.sleep(bound / 2)  # the second arrives while the first still waits
        second = _joining(database, 2)
        with pytest.raises(TimeoutError):
            await first
        assert loop.time() - began >= bound * 0.99
        assert not second.done()  # waited half its bound: still in the batch
        assert await second == 2
        await holding
        kept = await admin.fetch("SELECT n FROM stalled_check ORDER BY n")
        assert [row["n"] for row in kept] == [0, 2]


async def test_works_join_a_new_batch_after_one_every_work_of_which_timed_out(
    db: Database,
) -> None:
    """A batch whose every work passed the pool's bound is over: the works after it form a
    batch of their own and commit, none left waiting on the one that gave up."""
    bound = 1.0
    async with _pool_of_one(db, "stalled_check (n int)", bound=bound) as (database, admin):
        assert await _joining(database, 0) == 0
        holding = await _stalling(database, admin, 1.5 * bound)
        with pytest.raises(TimeoutError):
            await _joining(database, 1)
        await holding
        both = asyncio.gather(_joining(database, 2), _joining(database, 3))
        assert list(await asyncio.wait_for(both, 10)) == [2, 3]
        kept = await admin.fetch("SELECT n FROM stalled_check ORDER BY n")
        assert [row["n"] for row in kept] == [0, 2, 3]


_MOVE_LOCKED = Statement("UPDATE stalled_check SET n = n + 100 WHERE n = 0")


async def _move_locked(tx: Raw) -> int:
    await tx.fetch(_MOVE_LOCKED, {})
    return 100


@pytest.mark.parametrize("held", [0.5, 1.5], ids=["released-within-the-bound", "held-past-it"])
async def test_a_row_lock_held_elsewhere_fails_only_a_joined_work_that_waited_its_bound(
    db: Database, held: float
) -> None:
    """A stall by a lock (a row the pool's one connection must write, locked by another session):
    the work holding the connection waits for the row under its statement's bound, and a work
    that finds the pool taken joins the batch waiting for the connection, held to the pool's
    bound from when it joined. The lock let go within that bound, both commit; held past it,
    the joined work alone hears the pool's timeout, and the locked one commits once let go."""
    bound = 2.0
    loop = asyncio.get_running_loop()
    async with _pool_of_one(db, "stalled_check (n int)", bound=bound) as (database, admin):
        await admin.execute("INSERT INTO stalled_check (n) VALUES (0)")
        assert await _joining(database, 1) == 1  # the pool's one connection, opened
        # A session of its own holds the lock: the test's own looks at the server's activity
        # must not run in a transaction, which would read one snapshot of it throughout.
        url = db.engine.url.render_as_string(hide_password=False)
        holder = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            locker = holder.transaction()
            await locker.start()
            await holder.execute("SELECT n FROM stalled_check WHERE n = 0 FOR UPDATE")
            moving = asyncio.ensure_future(database.run(_move_locked, each_statement=True))

            async def waiting_for_the_lock() -> bool:
                found = await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE stalled_check%'"
                )
                return bool(found)

            await wait_until(waiting_for_the_lock)
            began = loop.time()
            joined = _joining(database, 2)
            done, _ = await asyncio.wait({joined}, timeout=held * bound)
            await locker.commit()
        finally:
            await holder.close()
        if held < 1:
            assert not done
            assert await joined == 2
        else:
            with pytest.raises(TimeoutError):
                await joined
            assert loop.time() - began >= bound * 0.99
        assert await moving == 100
        kept = await admin.fetch("SELECT n FROM stalled_check ORDER BY n")
        assert [row["n"] for row in kept] == ([1, 2, 100] if held < 1 else [1, 100])
