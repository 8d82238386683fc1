"""The contract every store's engine keeps behind ``Database``, on each store."""

import asyncio
import functools

import pytest
from sqlalchemy import text

from gateway.store.engine import AWAITED_OTHER, Database
from gateway.store.postgres import PostgresDatabase
from gateway.store.raw import Raw, Statement
from gateway.store.sqlite import SQLiteDatabase

_INSERT = Statement("INSERT INTO engine_contract (n) VALUES (:n)")
_COUNT = Statement("SELECT count(*) AS c FROM engine_contract WHERE n = :n", ("c",))


class _Refused(Exception):
    pass


async def _insert(tx: Raw, *, n: int, refuse: bool = False) -> int:
    await tx.fetch(_INSERT, {"n": n})
    if refuse:
        raise _Refused
    return n


async def _count(tx: Raw, *, n: int) -> int:
    row = await tx.fetchrow(_COUNT, {"n": n})
    assert row is not None
    return int(row["c"])


async def _kept(db: Database, n: int) -> int:
    return await db.run(functools.partial(_count, n=n), read_only=True)


@pytest.fixture
async def contract_db(db: Database) -> Database:
    async with db.transaction() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS engine_contract (n integer)"))
        await conn.execute(text("DELETE FROM engine_contract"))
    return db


async def test_database_is_the_engine_of_its_url_and_says_whether_it_has_one_writer(
    db: Database,
) -> None:
    expected = SQLiteDatabase if db.engine.dialect.name == "sqlite" else PostgresDatabase
    assert type(db) is expected
    assert db.single_writer is db.is_sqlite is (expected is SQLiteDatabase)


async def test_run_keeps_a_work_that_returns_and_nothing_of_one_that_raises(
    contract_db: Database,
) -> None:
    db = contract_db
    assert await db.run(functools.partial(_insert, n=1)) == 1
    with pytest.raises(_Refused):
        await db.run(functools.partial(_insert, n=2, refuse=True))
    assert await _kept(db, 1) == 1
    assert await _kept(db, 2) == 0


async def test_a_work_that_awaits_anything_but_its_statements_fails_and_keeps_nothing(
    contract_db: Database,
) -> None:
    db = contract_db

    async def strays(tx: Raw) -> None:
        await tx.fetch(_INSERT, {"n": 3})
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match=AWAITED_OTHER):
        await db.run(strays)
    assert await _kept(db, 3) == 0


async def test_concurrent_works_each_hear_their_own_outcome(contract_db: Database) -> None:
    """Whatever batches an engine forms, each caller hears its own work's outcome, and a
    refused work takes nothing of the others with it."""
    db = contract_db
    numbers = range(10, 30)
    results = await asyncio.gather(
        *(db.run(functools.partial(_insert, n=n, refuse=n == 17)) for n in numbers),
        return_exceptions=True,
    )
    heard = [type(r) if isinstance(r, BaseException) else r for r in results]
    assert heard == [_Refused if n == 17 else n for n in numbers]
    kept = [n for n in numbers if await _kept(db, n)]
    assert kept == [n for n in numbers if n != 17]


async def test_read_and_transaction_are_sqlalchemy_connections_on_both_stores(
    contract_db: Database,
) -> None:
    db = contract_db
    async with db.transaction() as conn:
        await conn.execute(text("INSERT INTO engine_contract (n) VALUES (40)"))
    with pytest.raises(_Refused):
        async with db.transaction() as conn:
            await conn.execute(text("INSERT INTO engine_contract (n) VALUES (41)"))
            raise _Refused
    async with db.read() as conn:
        found = (await conn.execute(text("SELECT n FROM engine_contract ORDER BY n"))).all()
    assert [row.n for row in found] == [40]
