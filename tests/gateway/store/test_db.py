import sqlite3

import pytest

from gateway.clock import utcnow
from gateway.merchants.service import create_merchant
from gateway.store.db import Database
from gateway.store.raw import Statement


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


async def test_the_sqlite_reader_sees_commits_and_cannot_write(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite only")
    count = Statement("SELECT count(*) FROM merchants", ("n",))
    async with db.reader() as reader:
        before = await reader.fetchrow(count, {})
    async with db.begin() as conn:
        await create_merchant(
            conn,
            db,
            name="read",
            low_balance_threshold_cents=0,
            staging_initial_balance_cents=0,
            now=utcnow(),
        )
    async with db.reader() as reader:
        after = await reader.fetchrow(count, {})
        assert before is not None and after is not None and after["n"] == before["n"] + 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await reader.fetch(Statement("DELETE FROM merchants"), {})
