"""SQLite's engine: one writer connection, ``BEGIN IMMEDIATE``, group commit, and WAL checkpoints
kept off the request path.

One connection writes, and every write begins with ``BEGIN IMMEDIATE``: a deferred transaction
that later upgrades to a write fails with SQLITE_BUSY whatever the busy timeout, and a pool of
writers only queues on the file lock. WAL keeps readers in other processes (the worker, the CLI)
off the writer's back. ``run`` takes the engine's single connection, whose one writer must stay
one (a transaction is one trip to its thread, shared by the works queued meanwhile), plus a
read-only connection for lookups and one for WAL checkpoints, which run beside the writer rather
than inside its commits.
"""

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import aiosqlite
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolResetState

from . import filters
from ._aiosqlite import is_open, on_thread, queue_on_thread, submit_on_thread
from .engine import AWAITED_OTHER, Database, Work, settle
from .raw import Raw

__all__ = [
    "CHECKPOINT_EVERY",
    "SQLiteDatabase",
    "create_sqlite_engine",
    "private_sqlite_file",
    "sqlite_file_opens",
]

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
# A batch's works each run in a savepoint (``_run_batch``), for which SQLite keeps a copy of
# every page the work changes, to take it back alone. Past 64 KiB (16 pages; a send changes
# about 32) that copy goes to a file in the system's temporary folder, one write a page, and the
# batch's statements wait on that disk. A batch keeps it in memory, a few MB at most. A work
# alone has no savepoint and keeps SQLite's default: in memory, the temporary tables its
# statements' RETURNING make cost 90 k instructions a send more.
_COPIES_IN_MEMORY = "PRAGMA temp_store=MEMORY"
_COPIES_BY_DEFAULT = "PRAGMA temp_store=DEFAULT"
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


def sqlite_file_opens(url: str) -> None:
    """Raises ``sqlite3.OperationalError`` (in SQLite's words) when the file cannot be opened
    for writing: asked here, in this thread, because aiosqlite's thread for a connection that
    failed outlives an ``asyncio.run`` that ends at once and prints a traceback of its own."""
    database = make_url(url).database
    if not url.startswith("sqlite") or not database or database == ":memory:":
        return
    sqlite3.connect(f"{Path(database).resolve().as_uri()}?mode=rw", uri=True).close()


def create_sqlite_engine(url: str) -> AsyncEngine:
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
        filters.register(dbapi_conn)  # the fan-out's statements call the payload filter

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the driver: one trip to aiosqlite's thread instead of a cursor's three.
        conn.connection.dbapi_connection.run_async(lambda driver: on_thread(driver, _begin_fresh))

    # A task cancelled by an anyio cancel scope (a streaming response whose client left) is
    # cancelled again at every await of SQLAlchemy's own clean-up: a BEGIN already queued on
    # the thread then runs after the connection went back to the pool, or the connection is
    # invalidated and aiosqlite's close, itself cancelled, forgets the ``sqlite3``
    # connection without closing it. Either way its write lock would stay held for every
    # process. So both events queue their clean-up on the thread, behind whatever is
    # queued there, without awaiting anything a cancellation could interrupt.
    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_conn: Any, _record: ConnectionPoolEntry, _state: PoolResetState) -> None:
        queue_on_thread(dbapi_conn.driver_connection, _end_leftover)

    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_invalidate(
        dbapi_conn: Any, _record: ConnectionPoolEntry, _exc: BaseException | None
    ) -> None:
        queue_on_thread(dbapi_conn.driver_connection, _abandon)

    return engine


T = TypeVar("T")
_BUSY = object()


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
    works: list[Work],
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
    if len(works) == 1:  # alone: the transaction is its own, without a savepoint's two trips
        return _transaction(connection, works)
    # Read as the transaction begins, so set before it.
    connection.execute(_COPIES_IN_MEMORY)
    try:
        return _transaction(connection, works)
    finally:
        with contextlib.suppress(sqlite3.Error):  # a connection that failed says so when next used
            connection.execute(_COPIES_BY_DEFAULT)


def _transaction(connection: sqlite3.Connection, works: list[Work]) -> list[tuple[bool, Any]]:
    """``_run_batch``'s transaction, with the connection free for it."""
    _begin_immediate(connection)
    tx = Raw(connection, is_sqlite=True, inline=True)
    outcomes: list[tuple[bool, Any]] = []
    try:
        if len(works) == 1:
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


def _drive(step: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends, run in one step."""
    try:
        step.send(None)
    except StopIteration as done:
        result: T = done.value  # an annotation, not ``cast``: no call on the hot path
        return result
    step.close()
    raise RuntimeError(AWAITED_OTHER)


class SQLiteDatabase(Database):
    """``Database`` on SQLite."""

    is_sqlite: ClassVar[bool] = True

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._reader: sqlite3.Connection | None = None
        self._writer: aiosqlite.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        self._writes = 0
        self._queued: list[tuple[Work, asyncio.Future[Any]]] = []
        self._in_flight: asyncio.Future[Any] | None = None  # the batch on the writer's thread

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
        """The whole transaction is one trip to the writer's thread, where ``work`` runs to its
        end in one step: a trip waits for the event loop, and with one writer every waiting
        trip held the write lock for everyone. Works queued meanwhile share the next trip and
        its commit (``_send_batch``), each in a savepoint of its own. ``each_statement`` changes
        nothing here: the work still runs in one transaction.

        ``read_only``: a read-only connection used on the calling thread: under WAL a reader
        never waits for the writer, and an indexed lookup takes microseconds, less than the
        trip to the writer's thread."""
        if read_only:
            return _drive(work(Raw(self._reader or self._sqlite_reader(), True, inline=True)))
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((work, future))
        if self._in_flight is None:
            self._send_batch()
        return await future

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
        self, batch: list[tuple[Work, asyncio.Future[Any]]], trip: asyncio.Future[Any]
    ) -> None:
        self._in_flight = trip
        trip.add_done_callback(functools.partial(self._batch_done, batch))

    async def _batch_via_pool(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> Any:
        """The batch on the connection checked out of the pool, which opens the writer if it
        is not open and waits for a transaction of SQLAlchemy's open on it."""
        async with self.engine.connect() as conn:
            await conn.get_raw_connection()
            writer = self._writer
            assert writer is not None
            return await on_thread(writer, _run_batch, [work for work, _ in batch], True)

    def _batch_done(
        self, batch: list[tuple[Work, asyncio.Future[Any]]], trip: asyncio.Future[Any]
    ) -> None:
        self._in_flight = None
        if trip.cancelled():  # the loop is shutting down
            settle(batch, asyncio.CancelledError())
        elif (error := trip.exception()) is not None:
            settle(batch, error)
        elif trip.result() is _BUSY:
            # A transaction of SQLAlchemy's is open on the connection, between two of its trips
            # to the thread: nothing was done, and the batch waits for it in the pool.
            self._track(batch, asyncio.ensure_future(self._batch_via_pool(batch)))
            return
        else:
            settle(batch, trip.result())
            self._wrote()
        if self._queued:
            self._send_batch()

    async def dispose(self) -> None:
        while self._in_flight is not None:  # the batches on their way are let commit
            await asyncio.wait({self._in_flight})
        if self._writer is not None:
            if self._checkpointing is not None:
                await self._checkpointing
            await self._checkpoint()  # leave the WAL short for whoever opens the file next
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await super().dispose()
