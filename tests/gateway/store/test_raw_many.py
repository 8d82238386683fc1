"""``Raw.executemany_each``: several statements over the same parameter sets, each statement
binding its own names of them (a datetime as the text Core stores, a literal of its own beside
them), on each store; read back through Core as written."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, literal, select, text

from gateway.store.engine import Database
from gateway.store.expressions import param
from gateway.store.raw import Raw, Statement
from gateway.store.types import UTCDateTime

_META = MetaData()
_T = Table(
    "raw_many_rows",
    _META,
    Column("n", Integer),
    Column("at", UTCDateTime()),
    Column("tag", String),
)
_WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
async def table_db(db: Database) -> Database:
    async with db.transaction() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS raw_many_rows"))
        await conn.run_sync(_META.create_all)
    return db


async def test_each_statement_binds_its_own_names_of_every_row(table_db: Database) -> None:
    """Each statement binds its own names of every row (a datetime, ``None`` among them, as
    the text Core stores; a list no statement names left alone) beside a literal of its own."""
    first = Statement.of(
        insert(_T).from_select(
            ["n", "at", "tag"],
            select(
                param("n", Integer()),
                param("at", UTCDateTime()),
                literal("first", String()),  # a literal of the statement's own
            ),
        )
    )
    second = Statement.of(
        insert(_T).from_select(
            ["n", "tag"], select(param("n", Integer()) + 100, param("tag", String()))
        )
    )
    rows = [
        {"n": n, "at": _WHEN + timedelta(seconds=n), "tag": f"t{n}", "unused": [n]}
        for n in range(3)
    ]
    rows[1]["at"] = None

    async def write(tx: Raw) -> None:
        await tx.executemany_each([first, second], rows)

    await table_db.run(write)
    async with table_db.read() as conn:
        found = (await conn.execute(select(_T).order_by(_T.c.n))).all()
    assert [tuple(row) for row in found] == [
        *((n, None if n == 1 else _WHEN + timedelta(seconds=n), "first") for n in range(3)),
        *((n + 100, None, f"t{n}") for n in range(3)),
    ]
