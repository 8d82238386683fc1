"""The store's one reach into aiosqlite (``gateway.store._aiosqlite``) still finds what it uses."""

import inspect
import sqlite3
import threading
from pathlib import Path

import aiosqlite

from gateway.store._aiosqlite import (
    is_open,
    on_thread,
    queue_on_thread,
    sqlite_connection,
    submit_on_thread,
)


def test_aiosqlite_still_has_the_private_names_the_adapter_uses() -> None:
    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute)
    params = list(inspect.signature(aiosqlite.Connection._execute).parameters)
    assert params[:2] == ["self", "fn"], params


async def test_an_open_connection_has_the_private_attributes_the_adapter_uses(
    tmp_path: Path,
) -> None:
    async with aiosqlite.connect(tmp_path / "adapter.db") as conn:
        assert isinstance(conn._connection, sqlite3.Connection) and conn._running is True
        assert is_open(conn)
        ran = threading.Event()
        queue_on_thread(conn, lambda connection: ran.set())  # through ``_tx``
        await on_thread(conn, lambda connection: None)  # queued after it
        assert ran.is_set()
    assert not is_open(conn)


async def test_a_function_runs_on_the_connection_s_own_thread(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "adapter.db") as conn:
        assert isinstance(sqlite_connection(conn), sqlite3.Connection)

        def where(connection: sqlite3.Connection, extra: int) -> tuple[int, int]:
            one = connection.execute("SELECT 1").fetchone()[0]
            return threading.get_ident(), one + extra

        thread, value = await on_thread(conn, where, 1)
        again, _ = await on_thread(conn, where, 0)
        submitted, other = await submit_on_thread(conn, where, 2)
        assert (value, other) == (2, 3)
        assert thread != threading.get_ident()  # not the event loop's
        assert again == submitted == thread  # the one thread that owns the connection
