import sqlite3

import pytest

from gateway.store.db import Database


async def test_sqlite_transactions_take_the_write_lock_up_front(db: Database) -> None:
    """A deferred transaction that upgrades to a write later fails with SQLITE_BUSY whatever the
    timeout; every transaction here starts with BEGIN IMMEDIATE instead."""
    if not db.is_sqlite:
        pytest.skip("SQLite only")
    path = str(db.engine.url.database)
    async with db.begin():
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
