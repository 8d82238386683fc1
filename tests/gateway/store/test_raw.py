"""Raw driver statements belong to the surrounding transaction on both backends, whether the
connection is SQLAlchemy's or one of the database's own driver connections."""

import asyncio
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Integer, func, literal, select

from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.merchants.service import create_merchant
from gateway.store.engine import Database
from gateway.store.expressions import param
from gateway.store.models import LedgerEntry, Wallet
from gateway.store.raw import Raw, Statement
from gateway.store.sqlite import _drive
from gateway.values.clock import utcnow
from tests.fixtures.merchants import MakeMerchant, merchant_balance, unbalanced_wallets


class Boom(Exception):
    pass


async def _entries(db: Database, reference: str) -> int:
    async with db.read() as conn:
        stmt = select(func.count()).where(LedgerEntry.reference == reference)
        return int((await conn.execute(stmt)).scalar_one())


async def test_a_raw_first_statement_rolls_back_with_its_transaction(
    db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    async with db.read() as conn:
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(merchant.merchant_id))
    assert wallet is not None
    entry = ledger.Entry(wallet.wallet_id, "staging", 5, "adjustment", f"ref-{merchant.key_id}")
    with pytest.raises(Boom):
        async with db.transaction() as conn:
            # raw, and the first statement
            await ledger.credit(conn, wallet.wallet_id, 5, utcnow(), grants.PAID)
            await ledger.append(conn, [entry], utcnow())
            raise Boom
    assert await _entries(db, entry.reference or "") == 0
    assert await merchant_balance(db, merchant) == wallet.balance_cents

    async with db.transaction() as conn:
        await ledger.credit(conn, wallet.wallet_id, 5, utcnow(), grants.PAID)
        await ledger.append(conn, [entry], utcnow())
    assert await _entries(db, entry.reference or "") == 1
    assert await merchant_balance(db, merchant) == wallet.balance_cents + 5
    assert await unbalanced_wallets(db) == []


async def merchant_balance_of(db: Database, wallet_id: str) -> int:
    async with db.read() as conn:
        stmt = select(Wallet.balance_cents).where(Wallet.id == wallet_id)
        return int((await conn.execute(stmt)).scalar_one())


async def _wallet(db: Database, make_merchant: MakeMerchant) -> tuple[str, int]:
    merchant = await make_merchant()
    async with db.read() as conn:
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(merchant.merchant_id))
    assert wallet is not None
    return wallet.wallet_id, wallet.balance_cents


async def test_a_savepoint_undoes_only_what_ran_inside_it(
    db: Database, make_merchant: MakeMerchant
) -> None:
    wallet_id, start = await _wallet(db, make_merchant)
    kept = ledger.Entry(wallet_id, "staging", 3, "adjustment", f"kept-{wallet_id}")
    undone = ledger.Entry(wallet_id, "staging", 4, "adjustment", f"undone-{wallet_id}")

    async def keep_one(tx: Raw) -> None:
        await ledger.credit(tx, wallet_id, 3, utcnow(), grants.PAID)
        await ledger.append(tx, [kept], utcnow())
        with pytest.raises(Boom):
            async with tx.savepoint():
                await ledger.credit(tx, wallet_id, 4, utcnow(), grants.PAID)
                await ledger.append(tx, [undone], utcnow())
                raise Boom

    await db.run(keep_one)
    assert await _entries(db, kept.reference or "") == 1
    assert await _entries(db, undone.reference or "") == 0
    assert await merchant_balance_of(db, wallet_id) == start + 3

    # ``each_statement``: on PostgreSQL each statement is final at once, and a failure
    # afterwards takes nothing back; SQLite still runs the work in one transaction.
    fixed = ledger.Entry(wallet_id, "staging", 2, "adjustment", f"auto-{wallet_id}")

    async def credit_then_fail(tx: Raw) -> None:
        await ledger.credit(tx, wallet_id, 2, utcnow(), grants.PAID)
        await ledger.append(tx, [fixed], utcnow())
        raise Boom

    with pytest.raises(Boom):
        await db.run(credit_then_fail, each_statement=True)
    final = 2 if not db.is_sqlite else 0
    assert await merchant_balance_of(db, wallet_id) == start + 3 + final
    assert await unbalanced_wallets(db) == []


async def test_run_commits_its_work_or_none_of_it(
    db: Database, make_merchant: MakeMerchant
) -> None:
    wallet_id, start = await _wallet(db, make_merchant)
    entry = ledger.Entry(wallet_id, "staging", 6, "adjustment", f"run-{wallet_id}")

    async def credit(tx: Raw) -> int:
        balance = await ledger.credit(tx, wallet_id, 6, utcnow(), grants.PAID)
        await ledger.append(tx, [entry], utcnow())
        return balance

    async def credit_then_fail(tx: Raw) -> int:
        await credit(tx)
        raise Boom

    with pytest.raises(Boom):
        await db.run(credit_then_fail)
    assert await merchant_balance_of(db, wallet_id) == start
    assert await db.run(credit) == start + 6
    assert await _entries(db, entry.reference or "") == 1
    assert await unbalanced_wallets(db) == []


async def test_run_waits_for_an_open_sqlalchemy_transaction(
    db: Database, make_merchant: MakeMerchant
) -> None:
    """On SQLite ``run`` goes straight to the connection's thread; a transaction SQLAlchemy holds
    open there between its trips is waited for, not joined."""
    if not db.is_sqlite:
        pytest.skip("SQLite only: PostgreSQL's run takes a connection of its own")
    wallet_id, start = await _wallet(db, make_merchant)
    entry = ledger.Entry(wallet_id, "staging", 2, "adjustment", f"wait-{wallet_id}")

    async def credit(tx: Raw) -> int:
        balance = await ledger.credit(tx, wallet_id, 2, utcnow(), grants.PAID)
        await ledger.append(tx, [entry], utcnow())
        return balance

    with pytest.raises(Boom):
        async with db.transaction() as conn:
            await ledger.append(conn, [entry], utcnow())  # the transaction is open from here
            waiting = asyncio.create_task(db.run(credit))
            # One step, not a wait: the task's first step queues its trip to the thread.
            await asyncio.sleep(0)
            # A trip queued behind it on the same thread: when it returns, ``run``'s own trip
            # has been answered, and had it joined or broken this transaction it would be done.
            await conn.exec_driver_sql("SELECT 1")
            assert not waiting.done()
            raise Boom  # rolls back only this transaction's entry
    assert await waiting == start + 2
    assert await _entries(db, entry.reference or "") == 1
    assert await unbalanced_wallets(db) == []


@pytest.mark.parametrize(
    "way", [{}, {"each_statement": True}, {"read_only": True}], ids=["tx", "each", "read"]
)
async def test_work_may_await_only_its_statements(db: Database, way: dict[str, bool]) -> None:
    """The same rule on both stores: SQLite's work runs on the writer's thread, where nothing
    else can be awaited; PostgreSQL's is held to it so that work valid on one is valid on the
    other."""
    wallet_id, start = await _wallet_of_new_merchant(db)

    async def naps(tx: Raw) -> None:
        if not way.get("read_only"):
            entry = ledger.Entry(wallet_id, "staging", 1, "adjustment", f"nap-{wallet_id}")
            await ledger.credit(tx, wallet_id, 1, utcnow(), grants.PAID)
            await ledger.append(tx, [entry], utcnow())
        await asyncio.sleep(0)  # the forbidden await itself, what is under test

    with pytest.raises(RuntimeError, match="awaited something"):
        await db.run(naps, **way)
    if not way:
        assert await merchant_balance_of(db, wallet_id) == start  # rolled back
    assert await unbalanced_wallets(db) == []
    one = Statement("SELECT 1 AS one", ("one",))
    assert await db.run(lambda tx: tx.fetchrow(one, {}), **way) == {"one": 1}


async def _wallet_of_new_merchant(db: Database) -> tuple[str, int]:
    async with db.transaction() as conn:
        merchant = await create_merchant(
            conn,
            db,
            name=f"naps-{uuid.uuid4().hex}",
            low_balance_threshold_cents=0,
            staging_initial_balance_cents=0,
            now=utcnow(),
        )
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(merchant.id))
    assert wallet is not None
    return wallet.wallet_id, wallet.balance_cents


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 22, 20, 39, 28, 962418, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 1, 1, 1, 0, 0, 7, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ],
)
def test_sqlite_datetimes_are_written_as_sqlalchemy_writes_them(value: datetime) -> None:
    """In UTC, as SQLAlchemy's SQLite DATETIME text, so Core reads them back unchanged."""
    expected = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    statement = Statement("SELECT :at AS at, :n AS n", ("at", "n"))
    params = {"at": value, "n": 1, "other": value}
    with closing(sqlite3.connect(":memory:")) as connection:
        rows = _drive(Raw(connection, True, inline=True).fetch(statement, params))
    assert rows == [{"at": expected, "n": 1}]
    assert params["at"] is value  # the caller's own parameters are left as they were


def test_a_sqlite_statement_is_bound_its_own_parameters_alone() -> None:
    """A plan hands every step all its parameters; each statement takes the ones it names (a
    list as JSON text), and a name it lacks is sqlite3's to report."""
    statement = Statement("SELECT :a, :b, :a, '12:30', 'm:' || :c", ("a", "b", "a2", "t", "c"))
    _, names, _ = statement.sqlite
    assert names == ("a", "b", "c")
    with closing(sqlite3.connect(":memory:")) as connection:
        tx = Raw(connection, True, inline=True)
        found = _drive(tx.fetch(statement, {"a": 1, "b": [1, 2], "c": "x", "z": 3}))
        assert found == [{"a": 1, "b": "[1, 2]", "a2": 1, "t": "12:30", "c": "m:x"}]
        with pytest.raises(sqlite3.ProgrammingError, match="binding parameter :c"):
            _drive(tx.fetch(statement, {"a": 1, "b": [1, 2]}))


async def test_a_statement_keeps_its_own_literal_over_a_parameter_of_its_name(db: Database) -> None:
    """A plan hands every step the parameters of all its steps. A construct's literal is bound
    as a parameter SQLAlchemy names (``param_1``), apart from the statement's own parameters;
    another step's parameter of that name leaves the literal as it is, on both stores."""
    statement = Statement.of(select(literal("own").label("v"), param("n", Integer).label("n")))
    (literal_name,) = statement.sqlite[2]
    assert statement.asyncpg[2] == {literal_name: "own"}

    async def work(tx: Raw) -> list[dict[str, object]]:
        return await tx.fetch(statement, {literal_name: "another step's", "n": 2})

    assert await db.run(work) == [{"v": "own", "n": 2}]
