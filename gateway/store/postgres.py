"""PostgreSQL's engine: an asyncpg pool of its own for the hot path, and joined batches.

``run`` takes a connection of an asyncpg pool beside SQLAlchemy's (the hot path skips
SQLAlchemy's machinery), runs a work of single-statement plans in autocommit, and, when every
connection is taken, joins it to the batch waiting for the next one: one transaction, one commit.
A batch waits for its connection no longer than each of its works would have alone: a work whose
own wait passes the pool's bound hears the pool's timeout, and the rest wait on (``_Batch``).
"""

import asyncio
import bisect
import json
import logging
from collections.abc import Callable, Coroutine, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from ._asyncpg import refuse_open_transaction
from .engine import AWAITED_OTHER, Database, Work, settle
from .raw import Raw, Statement

__all__ = ["PostgresDatabase", "create_postgres_engine"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def create_postgres_engine(
    url: str,
    *,
    pool_size: int,
    command_timeout: float | None,
    pool_timeout: float,
    statement_cache: bool = True,
) -> AsyncEngine:
    # A pooled connection the server dropped (a restart, a failover) is found by the ping at
    # check-out and replaced, so the Core paths (and ``/readyz``) are back as soon as the server
    # is. The hot path runs on asyncpg's own pool (``Database.run``), which reconnects by itself.
    # A server that stalls drops nothing: each statement, the ping and a new connection's
    # handshake are bounded by ``command_timeout``, the wait for a connection by ``pool_timeout``.
    connect_args: dict[str, Any] = {"command_timeout": command_timeout, "timeout": command_timeout}
    if not statement_cache:
        connect_args.update(_NO_STATEMENT_CACHE)
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "checkout", refuse_open_transaction)
    return engine


# Behind a pooler in transaction mode that keeps no prepared statements, each transaction (each
# statement, in autocommit) may run on another server connection: one prepared on one is
# missing on the next, or its name already taken there by another client's. With both caches
# off (SQLAlchemy's dialect and asyncpg's own), asyncpg prepares every statement unnamed and
# parses it again with its execution, in the same trip (``Connection._get_statement``), so
# nothing outlives one exchange with the server. SQLAlchemy's asyncpg dialect documents the two
# names.
_NO_STATEMENT_CACHE = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


# Savepoints that write take a subtransaction id each, and a session shows the others at most 64
# of a transaction's (PostgreSQL's ``PGPROC_MAX_CACHED_SUBXIDS``): past that, every snapshot taken
# while the transaction is open must read the subtransactions' parents from disk (``pg_subtrans``).
# A batch whose works run apart commits in transactions of at most this many.
SAVEPOINTS_A_TRANSACTION = 64


async def _joined(tx: Raw, works: list[Work]) -> list[tuple[bool, Any]]:
    """PostgreSQL: ``works`` in one transaction on ``tx``'s connection, one commit for all of
    them, each hearing its own outcome. If one raises, nothing is kept, and the batch runs
    again with each work in a savepoint of its own (two more trips a work), so a work the data
    refused (a full window, a key already answered) fails alone and the rest still commit
    together, ``SAVEPOINTS_A_TRANSACTION`` at a time. A failure the server's state decided (a
    lock, a timeout, the connection) is not pinned on one work: then each not yet committed
    runs again alone in autocommit, as it would have without the others."""
    if len(works) == 1:
        return await _alone(tx, works)
    try:
        async with tx.driver.transaction():
            return [await _own(tx, work, apart=False) for work in works]
    except Exception:  # rolled back: a refusal (a full window) or the connection
        log.debug("a joined batch was rolled back", exc_info=True)
    outcomes: list[tuple[bool, Any]] = []
    for start in range(0, len(works), SAVEPOINTS_A_TRANSACTION):
        part = works[start : start + SAVEPOINTS_A_TRANSACTION]
        try:
            async with tx.driver.transaction():
                committed = [await _own(tx, work, apart=True) for work in part]
        except Exception:
            log.debug("a joined batch's works apart were rolled back", exc_info=True)
            return outcomes + await _alone(tx, works[start:])
        outcomes += committed
    return outcomes


async def _alone(tx: Raw, works: list[Work]) -> list[tuple[bool, Any]]:
    """Each of ``works`` in autocommit, one after the other."""
    outcomes: list[tuple[bool, Any]] = []
    for work in works:
        try:
            outcomes.append((True, await _OnlyStatements(work(tx), tx)))
        except Exception as exc:
            outcomes.append((False, exc))
    return outcomes


async def _own(tx: Raw, work: Work, *, apart: bool) -> tuple[bool, Any]:
    """``work``'s outcome in the batch's transaction; ``apart``: in a savepoint, so that a
    failure of its own rolls back only what it wrote and is its outcome."""
    if not apart:
        return True, await _OnlyStatements(work(tx), tx)
    try:
        async with tx.driver.transaction():
            return True, await _OnlyStatements(work(tx), tx)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        raise
    except Exception as exc:
        return False, exc


_STATEMENT_CACHE_BYTES = 64 * 1024

# The role a session logs in as, and what it started with of some settings (``ALTER ROLE … SET``
# is how a process behind a pooler gets settings it cannot send at startup).
_SHOWN = Statement(
    "SELECT current_user AS role, (SELECT json_object_agg(name, setting) FROM pg_settings"
    " WHERE name = ANY(:names)) AS settings",
    ("role", "settings"),
)


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


@dataclass(eq=False)
class _Batch:
    """The works waiting for the next connection together, each with its own deadline (the
    loop's clock): when it joined plus the pool's bound, what it would have waited alone."""

    members: list[tuple[Work, asyncio.Future[Any]]] = field(default_factory=list)
    deadlines: list[float] = field(default_factory=list)

    def join(self, work: Work, deadline: float) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.members.append((work, future))
        self.deadlines.append(deadline)
        return future

    def expire(self, now: float, bound: float) -> None:
        """Each work whose deadline has come hears the pool's timeout, as it would have waiting
        alone, and leaves the batch; the others stay (the deadlines are in the order joined)."""
        gone = bisect.bisect_right(self.deadlines, now)
        expired, self.members = self.members[:gone], self.members[gone:]
        del self.deadlines[:gone]
        log.warning("%d joined works waited %.1f s for a connection: timed out", gone, bound)
        settle(expired, TimeoutError(f"no connection of the pool within {bound} s"))


def _exhausted(pool: asyncpg.Pool) -> bool:
    """Every connection the pool may open is open and taken: a call would wait for one."""
    return bool(pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size())


async def _drop(
    taking: asyncio.Future[asyncpg.Connection], pool: asyncpg.Pool, turn: asyncio.Lock
) -> None:
    """``taking`` (``PostgresDatabase._take``) given up: cancelled, or, if it came all the
    same, its connection and the batches' turn handed back."""
    if taking.cancel():
        try:
            await taking
        except asyncio.CancelledError:
            return
    if taking.cancelled() or taking.exception() is not None:
        return
    await pool.release(taking.result())
    turn.release()


class PostgresDatabase(Database):
    """``Database`` on PostgreSQL."""

    is_sqlite: ClassVar[bool] = False

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        settings: Mapping[str, str] | None = None,
        command_timeout: float,
        pool_timeout: float,
        statement_cache: bool = True,
    ) -> None:
        """``settings``: session settings for the driver's own connections, those of ``run``;
        ``command_timeout`` bounds each of their statements and handshakes, as the engine's
        own; ``pool_timeout``, how long ``run`` waits for one of them; ``statement_cache``
        off: they prepare no named statement (``_NO_STATEMENT_CACHE``)."""
        super().__init__(engine)
        self._postgres_settings = dict(settings or {})
        self.statement_cache = statement_cache
        self._command_timeout = command_timeout
        self._pool_timeout = pool_timeout
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._joining: _Batch | None = None
        self._one_batch = asyncio.Lock()
        self._batches: set[asyncio.Task[None]] = set()

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
                    statement_cache_size=100 if self.statement_cache else 0,
                    command_timeout=self._command_timeout,
                    timeout=self._command_timeout,  # a new connection's handshake
                )
            return self._pool

    async def run(
        self,
        work: Callable[[Raw], Coroutine[Any, Any, T]],
        *,
        each_statement: bool = False,
        read_only: bool = False,
    ) -> T:
        """``each_statement`` runs the work in autocommit, without the two trips of BEGIN and
        COMMIT, or, when every connection is taken, in the transaction of the batch waiting
        for the next one (``_join``). ``read_only``: autocommit."""
        pool = self._pool or await self._driver_pool()
        if each_statement and (self._joining is not None or _exhausted(pool)):
            joined: T = await self._join(pool, work)
            return joined
        # A connection idle in the pool is taken without waiting, so there is no wait to bound,
        # and asyncpg's bound costs a task and two timers (a send acquires twice: its key's
        # lookup, then its own statements).
        bound = None if pool.get_idle_size() else self._pool_timeout
        async with pool.acquire(timeout=bound) as driver:
            tx = Raw(driver, is_sqlite=False)
            if each_statement or read_only:
                return await _OnlyStatements(work(tx), tx)
            async with driver.transaction():
                return await _OnlyStatements(work(tx), tx)

    # Group commit, on PostgreSQL, for works whose statements each stand alone (a send's plan):
    # when every connection is taken, instead of waiting for one alone, a work joins the batch
    # waiting for the next, and the batch runs in one transaction with one commit. Each commit
    # waits for its WAL to reach the disk while holding the rows it wrote, the merchant's wallet
    # among them, so under load one commit for many sends is what the hot row allows. One batch
    # at a time: two, each holding rows of several merchants, could wait for each other.
    #
    # The batch stays open to new works while it waits, so its works joined at different times:
    # each is held to its own bound (``_Batch.expire``), never to the first one's. A stall (a
    # commit waiting seconds for the disk, with every other connection waiting on its rows)
    # fails only the works that waited the pool's bound, as each would have alone, and not the
    # hundreds that joined the batch a moment before.

    async def _join(self, pool: asyncpg.Pool, work: Work) -> Any:
        batch = self._joining
        if batch is None:
            batch = self._joining = _Batch()
            task = asyncio.ensure_future(self._commit_joined(pool, batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
        loop = asyncio.get_running_loop()
        return await batch.join(work, loop.time() + self._pool_timeout)

    async def _take(self, pool: asyncpg.Pool) -> asyncpg.Connection:
        """The batches' turn, then a connection (no bound of its own: ``_connection`` holds
        each work to its own)."""
        await self._one_batch.acquire()
        try:
            connection: asyncpg.Connection = await pool.acquire()
        except BaseException:
            self._one_batch.release()
            raise
        return connection

    async def _connection(self, pool: asyncpg.Pool, batch: _Batch) -> asyncpg.Connection | None:
        """The batches' turn and a connection for ``batch``, once both come; None if every work
        of it timed out before. One wait, keeping its place in the pool's queue, while the works
        whose deadlines come meanwhile leave."""
        loop = asyncio.get_running_loop()
        taking = asyncio.ensure_future(self._take(pool))
        try:
            while batch.members:
                await asyncio.wait({taking}, timeout=max(0.0, batch.deadlines[0] - loop.time()))
                if taking.done():
                    return taking.result()
                batch.expire(loop.time(), self._pool_timeout)
            self._close(batch)  # every work gone: the next forms a batch of its own
        finally:
            if not taking.done() or not batch.members:
                await _drop(taking, pool, self._one_batch)
        return None

    def _close(self, batch: _Batch) -> None:
        """Works from now on form the next batch (before any await: none may join one that no
        longer waits)."""
        if self._joining is batch:
            self._joining = None

    async def _commit_joined(self, pool: asyncpg.Pool, batch: _Batch) -> None:
        outcomes: list[tuple[bool, Any]] | BaseException
        try:
            driver = await self._connection(pool, batch)
            self._close(batch)
            if driver is None:
                return
            try:
                works = [work for work, _ in batch.members]
                outcomes = await _joined(Raw(driver, is_sqlite=False), works)
            finally:
                await pool.release(driver)
                self._one_batch.release()
        except BaseException as exc:  # the pool failed, or the loop is shutting down
            self._close(batch)
            settle(batch.members, exc)
            raise
        settle(batch.members, outcomes)

    async def session_settings(self, names: Sequence[str]) -> tuple[str, dict[str, str]] | None:
        shown = {"names": list(names)}
        [row] = await self.run(lambda tx: tx.fetch(_SHOWN, shown), read_only=True)
        return str(row["role"]), dict(json.loads(row["settings"] or "{}"))

    async def dispose(self) -> None:
        if self._batches:  # the batches on their way are let commit
            await asyncio.wait(set(self._batches))
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await super().dispose()
