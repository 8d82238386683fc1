"""The one reach into aiosqlite's internals: running a function on a connection's own thread.

aiosqlite runs every call of a connection on a thread of its own, taking the calls from a
queue, and offers no public way to run a function of ours there; the store needs one: a whole
transaction in one trip to that thread (``Database.run``), and ``BEGIN IMMEDIATE`` and WAL
checkpoints between SQLAlchemy's own calls. Five private names of ``aiosqlite.Connection`` are
used here and nowhere else: ``_execute(fn, *args)`` (a call queued and awaited), ``_tx`` (the
queue itself, for a call not awaited), ``_conn`` (the ``sqlite3.Connection``, raising once it is
closed), ``_connection`` (the same, ``None`` once closed) and ``_running``. SQLAlchemy's
aiosqlite dialect relies on three of them (``_conn``, ``_tx``, ``_connection``).
``tests/gateway/store/test_aiosqlite_adapter.py`` fails if aiosqlite changes any of the five;
the dependency is bounded in ``pyproject.toml``.
"""

import asyncio
import sqlite3
from asyncio import Future
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import aiosqlite

__all__ = ["is_open", "on_thread", "queue_on_thread", "sqlite_connection", "submit_on_thread"]

T = TypeVar("T")


def sqlite_connection(conn: aiosqlite.Connection) -> sqlite3.Connection:
    """The ``sqlite3`` connection behind ``conn``, to be used only on its thread."""
    found: sqlite3.Connection = conn._conn
    return found


async def on_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """``fn(sqlite_connection, *args)`` on ``conn``'s thread, queued after its other calls."""
    # aiosqlite leaves its private ``_execute`` unannotated.
    result: T = await conn._execute(fn, conn._conn, *args)  # type: ignore[no-untyped-call]
    return result


def submit_on_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> Future[T]:
    """``fn(sqlite_connection, *args)`` queued on ``conn``'s thread, as ``on_thread`` does, but
    without a coroutine around it: the future of its result, for a callback to take."""
    future: Future[T] = asyncio.get_running_loop().create_future()
    conn._tx.put_nowait((future, partial(fn, conn._conn, *args)))
    return future


def queue_on_thread(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], Any]) -> None:
    """``fn(sqlite_connection)`` on ``conn``'s thread, queued after its other calls and not
    waited for, so no cancellation can stop it from being queued; what it raises is dropped.
    The ``sqlite3`` connection is taken now, not when it runs: aiosqlite forgets it on close."""
    connection = conn._connection
    if connection is not None:
        conn._tx.put_nowait((None, partial(fn, connection)))


def is_open(conn: aiosqlite.Connection) -> bool:
    """Whether ``conn`` still takes calls: not closed, nor being closed."""
    return bool(conn._running) and conn._connection is not None
