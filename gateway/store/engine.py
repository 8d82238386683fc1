"""The store's one door, ``Database``: the interface each store's engine keeps.

``open_database(url)`` (``store.db``) is the engine of the URL's store, each a class of its own
behind this one interface: ``SQLiteDatabase`` (``store.sqlite``: one writer connection,
``BEGIN IMMEDIATE``, group commit, WAL checkpoints beside the writer) and ``PostgresDatabase``
(``store.postgres``: an asyncpg pool and joined batches). Domain code holds a ``Database`` and
never sees which.

Three ways in, each saying what may run inside it: ``read`` and ``transaction`` give a
SQLAlchemy connection (Core, for everything off the hot path), alike on both stores; ``run``
runs a work of driver statements (``store.raw``) on connections that skip SQLAlchemy's own
machinery, for the hot path (key lookup, the send, the worker's batches): checking a
connection out of the async engine, beginning and committing through it cost more CPU than the
statements themselves. How ``run`` gets a connection and commits is each engine's own.
"""

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .raw import Raw

__all__ = ["AWAITED_OTHER", "Database", "Work", "settle"]

T = TypeVar("T")
Work = Callable[[Raw], Coroutine[Any, Any, Any]]

AWAITED_OTHER = "work run in a store transaction awaited something besides its statements"


def settle(
    batch: list[tuple[Work, asyncio.Future[Any]]], outcomes: list[tuple[bool, Any]] | BaseException
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


class Database(ABC):
    """The engine and the driver connections of the hot path, behind three doors.

    Made by ``store.db.open_database``, which picks the engine class of the URL's store."""

    # Whether this is SQLite's engine: for the few statements whose SQL differs by dialect.
    is_sqlite: ClassVar[bool]

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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

    @abstractmethod
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
        sleep, another request) fails it with ``RuntimeError`` (``AWAITED_OTHER``) and nothing
        is written, so that work valid on one store is valid on the other. Works queued
        meanwhile may share a commit (group commit, each engine's own); what one work sees and
        keeps is as if each had run alone, one after the other.

        ``each_statement``: every statement of ``work`` leaves the store consistent by itself
        (a composed ``Plan``, one statement on PostgreSQL; the worker's batches), so an engine
        may run them without a transaction of their own.

        ``read_only``: reads by key, on a connection that never waits for the writer."""
        raise NotImplementedError

    @property
    def single_writer(self) -> bool:
        """Whether every write of every process queues for one lock (SQLite): then batching
        all writes into one transaction is cheaper than running kinds of write side by side."""
        return self.is_sqlite

    async def session_settings(self, names: Sequence[str]) -> tuple[str, dict[str, str]] | None:
        """The role this store's sessions log in as, and the values its sessions start with of
        the settings ``names``; None where sessions have neither (SQLite)."""
        return None

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        """Lets the works on their way commit, then closes every connection."""
        await self.engine.dispose()
