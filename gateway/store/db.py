"""The engine, built once in the lifespan, and the dialect-specific pieces the services need.

SQLite gets one connection and ``BEGIN IMMEDIATE``: a deferred transaction that later upgrades to
a write fails with SQLITE_BUSY whatever the busy timeout, and a pool of writers only queues on the
file lock. WAL keeps readers in other processes (the worker, the CLI) off the writer's back.

The hot path (key lookup, the send, the worker's batches) runs driver statements
(``store.raw``) on connections that skip SQLAlchemy's own machinery: checking a connection out of
the async engine, beginning and committing through it cost more CPU than the statements
themselves. On PostgreSQL these come from an asyncpg pool of the database's own;
on SQLite, whose one writer must stay one, from the engine's single connection (a transaction
is one trip to its thread, shared by the works queued meanwhile: ``Database.run``), plus a
read-only connection for lookups and one for WAL checkpoints, which run beside the writer
rather than inside its commits.
"""

import asyncio
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite
import asyncpg
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolResetState, QueuePool

from ._aiosqlite import is_open, on_thread, queue_on_thread, submit_on_thread
from ._asyncpg import begin_now, refuse_open_transaction
from .raw import Raw

__all__ = ["CHECKPOINT_EVERY", "Database", "create_engine", "private_sqlite_file"]

log = logging.getLogger(__name__)

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    # No busy handler: every write begins with ``_begin_immediate``, which waits for the lock
    # itself. Under WAL nothing else in a transaction that holds the lock waits for one.
    "PRAGMA busy_timeout=0",
    "PRAGMA foreign_keys=ON",
    # Checkpoints run on a connection of their own (``Database``), not inside a commit: copying
    # the WAL into the database and syncing it there stalled every send queued behind it.
    "PRAGMA wal_autocheckpoint=0",
)
# Transactions between two checkpoints: a few MB of WAL at the send's size.
CHECKPOINT_EVERY = 200
# The most works one SQLite transaction takes (``Database.run``): the write lock is held while
# they run, and every other process waits for it meanwhile.
BATCH_MAX = 32
# How long a transaction waits for another process's write lock, and how often it looks.
LOCK_WAIT_SECONDS = 10.0
LOCK_POLL_SECONDS = 0.0005
# Under WAL a reader waits only while a WAL index is rebuilt (after a crash), rarely and briefly;
# the key lookup runs on the event loop, so it waits less than a writer would.
READER_BUSY_MS = 1000


def private_sqlite_file(url: str) -> None:
    """The SQLite file, created owner-only (0600) if new and made so if not. SQLite gives its
    WAL and shared-memory files the database file's mode, so they follow; any left from before
    are tightened too. The file holds sealed secrets and every merchant's ledger."""
    database = make_url(url).database
    if not url.startswith("sqlite") or not database or database == ":memory:":
        return
    path = Path(database)
    try:
        # Only ever a new file: closing a descriptor of a file SQLite has open in this process
        # drops every POSIX lock the process holds on it, and with them SQLite's.
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError:  # no such folder, no permission: connecting will say so, in its own words
        return
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if each.exists():
            each.chmod(0o600)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        # Every transaction ends in SQLAlchemy's own commit or rollback, so the pool's extra
        # rollback on check-in would only cost a trip to aiosqlite's thread per request.
        engine = create_async_engine(
            url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            pool_reset_on_return=None,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Straight to the driver: one trip to aiosqlite's thread instead of a cursor's three.
            conn.connection.dbapi_connection.run_async(
                lambda driver: on_thread(driver, _begin_fresh)
            )

        # A task cancelled by an anyio cancel scope (a streaming response whose client left) is
        # cancelled again at every await of SQLAlchemy's own clean-up: a BEGIN already queued on
        # the thread then runs after the connection went back to the pool, or the connection is
        # invalidated and aiosqlite's close, itself cancelled, forgets the ``sqlite3``
        # connection without closing it. Either way its write lock would stay held for every
        # process. So both events queue their clean-up on the thread, behind whatever is
        # queued there, without awaiting anything a cancellation could interrupt.
        @event.listens_for(engine.sync_engine, "reset")
        def _on_reset(
            dbapi_conn: Any, _record: ConnectionPoolEntry, _state: PoolResetState
        ) -> None:
            queue_on_thread(dbapi_conn.driver_connection, _end_leftover)

        @event.listens_for(engine.sync_engine, "invalidate")
        def _on_invalidate(
            dbapi_conn: Any, _record: ConnectionPoolEntry, _exc: BaseException | None
        ) -> None:
            queue_on_thread(dbapi_conn.driver_connection, _abandon)

        return engine
    # A pooled connection the server dropped (a restart, a failover) is found by the ping at
    # check-out and replaced, so the Core paths (and ``/readyz``) are back as soon as the server
    # is. The hot path runs on asyncpg's own pool (``Database.run``), which reconnects by itself.
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )
    # As on SQLite: a transaction is open on the driver from SQLAlchemy's BEGIN, so driver
    # statements (``store.raw``) run inside it whatever ran first.
    event.listen(engine.sync_engine, "begin", begin_now)
    event.listen(engine.sync_engine, "checkout", refuse_open_transaction)
    return engine


T = TypeVar("T")
_BUSY = object()
_Work = Callable[[Raw], Coroutine[Any, Any, Any]]


def _begin_immediate(connection: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting for another process's write lock by looking again every
    half millisecond. SQLite's own busy handler sleeps longer and longer between looks, so a
    writer that found the lock taken a few times in a row slept through many of the other
    process's short transactions (the gateway and the worker share the file: seen as the
    worker's delivery latency; docs/performance.md, "Figures behind the code's choices")."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(LOCK_POLL_SECONDS)


def _end_leftover(connection: sqlite3.Connection) -> None:
    """On the writer's thread, where every ``Database.run`` is whole: a transaction still open
    here was left by a cancelled task, not begun by a running one. Roll it back."""
    if connection.in_transaction:
        log.warning("a SQLite transaction left open by a cancelled task was rolled back")
        connection.execute("ROLLBACK")


def _abandon(connection: sqlite3.Connection) -> None:
    _end_leftover(connection)
    connection.close()


def _begin_fresh(connection: sqlite3.Connection) -> None:
    """SQLAlchemy's BEGIN: it holds the connection, so a transaction already open is a leftover."""
    _end_leftover(connection)
    _begin_immediate(connection)


def _catch_up(connection: sqlite3.Connection) -> None:
    """On the writer's thread: checkpoint the last frames, unless a transaction is open."""
    if not connection.in_transaction:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _run_batch(
    connection: sqlite3.Connection,
    works: list[_Work],
    checked_out: bool = False,
) -> list[tuple[bool, Any]] | object:
    """On the connection's own thread: BEGIN IMMEDIATE, drive each of ``works`` to its end in a
    savepoint of its own, COMMIT once. Each work's ``(True, result)`` or ``(False, exception)``:
    a work that raises takes back its own writes alone, as if it had run in a transaction of its
    own after the ones before it. If the transaction itself fails (the COMMIT, or SQLite rolling
    it back on its own), nothing of any work is kept and that error is raised.

    ``_BUSY``, with nothing done, if a transaction of SQLAlchemy's is open on the connection
    (between two of its trips to this thread). ``checked_out``: the caller holds the
    connection out of the pool, so no transaction of SQLAlchemy's can be open."""
    if checked_out:
        _end_leftover(connection)
    elif connection.in_transaction:
        return _BUSY
    _begin_immediate(connection)
    tx = Raw(connection, is_sqlite=True, inline=True)
    outcomes: list[tuple[bool, Any]] = []
    try:
        if len(works) == 1:  # alone: the transaction is its own, without a savepoint's two trips
            outcomes.append((True, _drive(works[0](tx))))
        else:
            for work in works:
                connection.execute("SAVEPOINT work")
                try:
                    outcomes.append((True, _drive(work(tx))))
                except Exception as exc:
                    if not connection.in_transaction:  # SQLite ended it: the others' are gone
                        raise
                    connection.execute("ROLLBACK TO SAVEPOINT work")
                    outcomes.append((False, exc))
                connection.execute("RELEASE SAVEPOINT work")
        connection.execute("COMMIT")
        return outcomes
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _settle(
    batch: list[tuple[_Work, asyncio.Future[Any]]], outcomes: list[tuple[bool, Any]] | BaseException
) -> None:
    """Each caller of a batch hears its own work's outcome (``(True, result)`` or ``(False,
    exception)``, in order); all of them the batch's error, if nothing of it was kept, or a
    cancellation, if the loop is shutting down. A caller cancelled meanwhile hears nothing: its
    work is kept all the same."""
    if isinstance(outcomes, BaseException):
        for _, future in batch:
            if future.done():
                continue
            if isinstance(outcomes, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(outcomes)
        return
    for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


async def _joined(tx: Raw, works: list[_Work]) -> list[tuple[bool, Any]]:
    """PostgreSQL: ``works`` in one transaction on ``tx``'s connection, one commit for all of
    them. If any raises, nothing of them is kept, and each runs again alone in autocommit, as
    it would have without the others: each hears its own outcome."""
    if len(works) > 1:
        try:
            async with tx.driver.transaction():
                return [(True, await _OnlyStatements(work(tx), tx)) for work in works]
        except Exception:  # rolled back: a refusal (a full window) or the connection
            log.debug("a joined batch was rolled back; its works run alone", exc_info=True)
    outcomes: list[tuple[bool, Any]] = []
    for work in works:
        try:
            outcomes.append((True, await _OnlyStatements(work(tx), tx)))
        except Exception as exc:
            outcomes.append((False, exc))
    return outcomes


AWAITED_OTHER = "work run in a store transaction awaited something besides its statements"


def _drive(step: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends, run in one step."""
    try:
        step.send(None)
    except StopIteration as done:
        result: T = done.value  # an annotation, not ``cast``: no call on the hot path
        return result
    step.close()
    raise RuntimeError(AWAITED_OTHER)


_STATEMENT_CACHE_BYTES = 64 * 1024


class _OnlyStatements(Generic[T]):
    """Awaits ``work`` on a connection that suspends: any suspension outside one of ``tx``'s
    statements fails the work, as it does where statements never suspend (``_drive``). The
    rule is the same on both stores so that work valid on one is valid on the other."""

    def __init__(self, work: Coroutine[Any, Any, T], tx: Raw) -> None:
        self._work = work
        self._tx = tx

    def __await__(self) -> Generator[Any, Any, T]:
        work, tx = self._work, self._tx
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                yielded = work.throw(error) if error is not None else work.send(value)
            except StopIteration as done:
                result: T = done.value
                return result
            if not tx.in_statement:
                work.close()
                raise RuntimeError(AWAITED_OTHER)
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # cancellation, delivered to the work
                value, error = None, exc


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool check-in: asyncpg still rolls back an open transaction; skip its default reset trip
    (advisory locks, cursors, listeners, settings), as nothing on the hot path leaves any."""


def _exhausted(pool: asyncpg.Pool) -> bool:
    """Every connection the pool may open is open and taken: a call would wait for one."""
    return bool(pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size())


class Database:
    """The engine and the driver connections of the hot path, behind three doors.

    ``postgres_settings``: session settings for the driver's own PostgreSQL connections, those
    of ``connect`` and ``run``."""

    def __init__(
        self, engine: AsyncEngine, *, postgres_settings: Mapping[str, str] | None = None
    ) -> None:
        self.engine = engine
        self._postgres_settings = dict(postgres_settings or {})
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._reader: sqlite3.Connection | None = None
        self._writer: aiosqlite.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        self._writes = 0
        self._queued: list[tuple[_Work, asyncio.Future[Any]]] = []
        self._in_flight: asyncio.Future[Any] | None = None  # the batch on the writer's thread
        self._joining: list[tuple[_Work, asyncio.Future[Any]]] | None = None  # PostgreSQL's
        self._one_batch = asyncio.Lock()
        self._batches: set[asyncio.Task[None]] = set()
        if self.is_sqlite:

            @event.listens_for(engine.sync_engine, "connect")
            def _remember_writer(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
                self._writer = dbapi_conn.driver_connection

            @event.listens_for(engine.sync_engine, "commit")
            def _count_commit(_conn: Connection) -> None:
                self._wrote()

            self._path = Path(str(engine.url.database)).resolve()
            self._reader_uri = f"{self._path.as_uri()}?mode=ro"

    def _wrote(self) -> None:
        """A transaction committed on SQLite: every ``CHECKPOINT_EVERY``, checkpoint the WAL in
        the background."""
        self._writes += 1
        if self._writes < CHECKPOINT_EVERY:
            return
        if self._checkpointing is None or self._checkpointing.done():
            self._writes = 0
            self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        """PASSIVE, on a connection (and a thread) of its own: it copies what it can without
        waiting for, or blocking, readers and the writer. Then a last, short one on the
        writer's thread, between its transactions, for the frames written meanwhile: the WAL is
        restarted from its beginning only by a writer that begins after a checkpoint caught up
        with every frame, which under steady writes only that one can."""
        try:
            await asyncio.to_thread(self._checkpoint_passive)
            writer = self._writer
            if writer is not None and is_open(writer):
                await on_thread(writer, _catch_up)
        except (sqlite3.Error, ValueError):  # the next one will catch up (ValueError: closed)
            log.warning("WAL checkpoint failed", exc_info=True)

    def _checkpoint_passive(self) -> None:
        """On a thread of the default executor, not one of aiosqlite's: those are not daemon
        threads, and one left open by a shutdown that failed kept a stopped process alive."""
        if self._checkpointer is None:
            checkpointer = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            checkpointer.execute("PRAGMA busy_timeout=10000")
            self._checkpointer = checkpointer
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # The three ways in. Each says what may run inside it.

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """``async with db.read() as conn``: a SQLAlchemy connection for reads (Core), without
        a transaction of its own. Nothing written here is kept."""
        return self.engine.connect()

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """``async with db.transaction() as conn``: a SQLAlchemy connection in one transaction,
        committed on exit, rolled back if the block raises. For every write off the hot path;
        anything may be awaited inside."""
        return self.engine.begin()

    async def _driver_pool(self) -> asyncpg.Pool:
        async with self._pool_lock:
            if self._pool is None:
                url = self.engine.url.set(drivername="postgresql")
                # As many as the engine's pool keeps (``create_engine`` gives PostgreSQL a
                # queue pool).
                pool = self.engine.pool
                assert isinstance(pool, QueuePool)
                self._pool = await asyncpg.create_pool(
                    url.render_as_string(hide_password=False),
                    min_size=1,
                    max_size=pool.size(),
                    reset=_keep_session,
                    server_settings=self._postgres_settings,
                    # A send's one statement grows with its key's policy (a full one is about
                    # 16 KB of SQL), past asyncpg's default 15 KB: a statement not cached is
                    # prepared again on every send, which cost more than the send itself.
                    max_cacheable_statement_size=_STATEMENT_CACHE_BYTES,
                )
            return self._pool

    def _sqlite_reader(self) -> sqlite3.Connection:
        if self._reader is None:
            # Read-only by the URI, so nothing can write around the one writer.
            reader = sqlite3.connect(
                self._reader_uri, uri=True, isolation_level=None, check_same_thread=False
            )
            reader.execute(f"PRAGMA busy_timeout={READER_BUSY_MS}")
            self._reader = reader
        return self._reader

    async def run(
        self,
        work: Callable[[Raw], Coroutine[Any, Any, T]],
        *,
        each_statement: bool = False,
        read_only: bool = False,
    ) -> T:
        """``await work(tx)`` on the driver (``store.raw``), for the hot path: one transaction,
        committed when ``work`` returns, rolled back if it raises.

        ``work`` awaits nothing but its statements, on both stores: anything else (Redis, a
        sleep, another request) fails it with ``RuntimeError`` and nothing is written. On
        SQLite the whole transaction is one trip to the writer's thread, where ``work`` runs to
        its end in one step: a trip waits for the event loop, and with one writer every waiting
        trip held the write lock for everyone. Works queued meanwhile share the next trip and
        its commit (``_send_batch``), each in a savepoint of its own: what one work sees and
        keeps is as if each had run alone, one after the other.

        ``each_statement``: every statement of ``work`` leaves the store consistent by itself
        (a composed ``Plan``, one statement on PostgreSQL; the worker's batches), so PostgreSQL
        runs them in autocommit, without the two trips of BEGIN and COMMIT, or, when every
        connection is taken, in the transaction of the batch waiting for the next one
        (``_join``). SQLite still runs the work in one transaction.

        ``read_only``: reads by key. On SQLite a read-only connection used on the calling
        thread: under WAL a reader never waits for the writer, and an indexed lookup takes
        microseconds, less than the trip to the writer's thread; on PostgreSQL autocommit."""
        if not self.is_sqlite:
            pool = self._pool or await self._driver_pool()
            if each_statement and (self._joining is not None or _exhausted(pool)):
                joined: T = await self._join(pool, work)
                return joined
            async with pool.acquire() as driver:
                tx = Raw(driver, is_sqlite=False)
                if each_statement or read_only:
                    return await _OnlyStatements(work(tx), tx)
                async with driver.transaction():
                    return await _OnlyStatements(work(tx), tx)
        if read_only:
            return _drive(work(Raw(self._reader or self._sqlite_reader(), True, inline=True)))
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((work, future))
        if self._in_flight is None:
            self._send_batch()
        return await future

    # Group commit, on PostgreSQL, for works whose statements each stand alone (a send's plan):
    # when every connection is taken, instead of waiting for one alone, a work joins the batch
    # waiting for the next, and the batch runs in one transaction with one commit. Each commit
    # waits for its WAL to reach the disk while holding the rows it wrote, the merchant's wallet
    # among them, so under load one commit for many sends is what the hot row allows. One batch
    # at a time: two, each holding rows of several merchants, could wait for each other.

    async def _join(self, pool: asyncpg.Pool, work: _Work) -> Any:
        batch = self._joining
        if batch is None:
            batch = self._joining = []
            task = asyncio.ensure_future(self._commit_joined(pool, batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        batch.append((work, future))
        return await future

    async def _commit_joined(
        self, pool: asyncpg.Pool, batch: list[tuple[_Work, asyncio.Future[Any]]]
    ) -> None:
        outcomes: list[tuple[bool, Any]] | BaseException
        try:
            async with self._one_batch, pool.acquire() as driver:
                if self._joining is batch:
                    self._joining = None  # closed: works from now on form the next one
                outcomes = await _joined(Raw(driver, is_sqlite=False), [w for w, _ in batch])
        except BaseException as exc:  # no connection, or the loop is shutting down
            _settle(batch, exc)
            raise
        _settle(batch, outcomes)

    # Group commit, on SQLite: the works queued while the writer's thread was busy go to it
    # together, in one transaction (``_run_batch``), and each caller hears its own work's
    # outcome once that transaction has committed. Under load one commit writes each page the
    # sends share (a table's last leaf, an index's) once for all of them instead of once a
    # send; alone, a work still has a transaction to itself. Driven by callbacks, not a task:
    # a task a send cost more than the batching saves when there is nothing to batch.

    def _send_batch(self) -> None:
        batch, self._queued = self._queued[:BATCH_MAX], self._queued[BATCH_MAX:]
        writer = self._writer
        if writer is not None and is_open(writer):
            # Straight onto the thread's queue, not through the pool: batches queued there run
            # back to back, without each waiting for the event loop to check the connection in.
            self._track(batch, submit_on_thread(writer, _run_batch, [work for work, _ in batch]))
        else:  # not connected yet, or closed by an invalidation
            self._track(batch, asyncio.ensure_future(self._batch_via_pool(batch)))

    def _track(
        self, batch: list[tuple[_Work, asyncio.Future[Any]]], trip: asyncio.Future[Any]
    ) -> None:
        self._in_flight = trip
        trip.add_done_callback(functools.partial(self._batch_done, batch))

    async def _batch_via_pool(self, batch: list[tuple[_Work, asyncio.Future[Any]]]) -> Any:
        """The batch on the connection checked out of the pool, which opens the writer if it
        is not open and waits for a transaction of SQLAlchemy's open on it."""
        async with self.engine.connect() as conn:
            await conn.get_raw_connection()
            writer = self._writer
            assert writer is not None
            return await on_thread(writer, _run_batch, [work for work, _ in batch], True)

    def _batch_done(
        self, batch: list[tuple[_Work, asyncio.Future[Any]]], trip: asyncio.Future[Any]
    ) -> None:
        self._in_flight = None
        if trip.cancelled():  # the loop is shutting down
            _settle(batch, asyncio.CancelledError())
        elif (error := trip.exception()) is not None:
            _settle(batch, error)
        elif trip.result() is _BUSY:
            # A transaction of SQLAlchemy's is open on the connection, between two of its trips
            # to the thread: nothing was done, and the batch waits for it in the pool.
            self._track(batch, asyncio.ensure_future(self._batch_via_pool(batch)))
            return
        else:
            _settle(batch, trip.result())
            self._wrote()
        if self._queued:
            self._send_batch()

    @property
    def single_writer(self) -> bool:
        """Whether every write of every process queues for one lock (SQLite): then batching
        all writes into one transaction is cheaper than running kinds of write side by side."""
        return self.is_sqlite

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        while self._in_flight is not None:  # the batches on their way are let commit
            await asyncio.wait({self._in_flight})
        if self._batches:
            await asyncio.wait(set(self._batches))
        if self.is_sqlite and self._writer is not None:
            if self._checkpointing is not None:
                await self._checkpointing
            await self._checkpoint()  # leave the WAL short for whoever opens the file next
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self.engine.dispose()
