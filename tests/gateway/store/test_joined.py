"""``Joined``: rows of many callers in as few transactions as the load allows, each caller
answered, one bad row failing only itself. On each store."""

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import text

from gateway.store.engine import Database
from gateway.store.joined import Joined
from gateway.store.raw import Raw, Statement

_INSERT = Statement("INSERT INTO joined_rows (n) VALUES (:n)")
_ROWS = Statement("SELECT n FROM joined_rows ORDER BY n", ("n",))
BAD = -1


class Rows:
    """A write that records the size of every batch it was given and refuses ``BAD``."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    async def write(self, tx: Raw, items: list[int]) -> list[str]:
        self.batches.append(len(items))
        if BAD in items:
            raise ValueError("a bad row")
        await tx.executemany(_INSERT, [{"n": n} for n in items])
        return [f"row {n}" for n in items]


def _standalone(items: Sequence[int]) -> bool:
    return True


@pytest.fixture
async def rows_db(db: Database) -> Database:
    async with db.transaction() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS joined_rows (n integer)"))
        await conn.execute(text("DELETE FROM joined_rows"))
    return db


async def _kept(db: Database) -> list[int]:
    async def read(tx: Raw) -> list[int]:
        return [row["n"] for row in await tx.fetch(_ROWS, {})]

    return await db.run(read, read_only=True)


async def test_callers_arriving_together_share_a_transaction_and_each_hears_its_own(
    rows_db: Database,
) -> None:
    rows = Rows()
    joined = Joined(rows_db, rows.write, each_statement=_standalone, failure="lost")
    answers = await asyncio.gather(*(joined.add(n) for n in range(1, 41)))
    assert answers == [f"row {n}" for n in range(1, 41)]
    assert await _kept(rows_db) == list(range(1, 41))
    assert rows.batches == [40]
    # Alone, a row is written at once, in a transaction of its own.
    assert await joined.add(41) == "row 41"
    assert rows.batches == [40, 1]


async def test_a_bad_row_fails_itself_alone(rows_db: Database) -> None:
    rows = Rows()
    joined = Joined(rows_db, rows.write, each_statement=_standalone, failure="lost")
    found = await asyncio.gather(*(joined.add(n) for n in (1, BAD, 2)), return_exceptions=True)
    assert found[0] == "row 1" and found[2] == "row 2"
    assert isinstance(found[1], RuntimeError) and str(found[1]) == "lost"
    assert await _kept(rows_db) == [1, 2]
    # The batch of three failed as a whole, then each was written alone.
    assert rows.batches == [3, 1, 1, 1]


async def test_no_batch_is_larger_than_its_bound_and_drain_waits_for_the_last(
    rows_db: Database,
) -> None:
    rows = Rows()
    joined = Joined(rows_db, rows.write, each_statement=_standalone, failure="lost", most=4)
    waiting = [asyncio.ensure_future(joined.add(n)) for n in range(10)]
    await asyncio.sleep(0)  # one turn of the loop: every caller has handed in its row
    await joined.drain()
    assert all(w.done() for w in waiting)
    assert rows.batches == [4, 4, 2]
    assert await _kept(rows_db) == list(range(10))


async def test_a_caller_cancelled_leaves_its_row_to_be_written(rows_db: Database) -> None:
    rows = Rows()
    joined = Joined(rows_db, rows.write, each_statement=_standalone, failure="lost")
    gone = asyncio.ensure_future(joined.add(7))
    staying = asyncio.ensure_future(joined.add(8))
    await asyncio.sleep(0)  # one turn of the loop: both have handed in their rows
    gone.cancel()
    assert await staying == "row 8"
    await joined.drain()
    assert gone.cancelled()
    assert await _kept(rows_db) == [7, 8]
