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


class Outage(Rows):
    """A write the store stops taking: from its ``down``-th batch on, each fails as a refused
    connection does (``ConnectionRefusedError``, an outage to ``is_unreachable``)."""

    def __init__(self, down: int) -> None:
        super().__init__()
        self.down = down

    async def write(self, tx: Raw, items: list[int]) -> list[str]:
        if len(self.batches) + 1 >= self.down:
            self.batches.append(len(items))
            raise ConnectionRefusedError("the store went away")
        return await super().write(tx, items)


async def test_a_batch_the_store_does_not_take_fails_whole_without_a_try_each(
    rows_db: Database,
) -> None:
    """Down, the store would refuse each row alone too, each after the same bound in turn."""
    rows = Outage(down=1)
    joined = Joined(rows_db, rows.write, each_statement=_standalone, failure="lost")
    found = await asyncio.gather(*(joined.add(n) for n in range(1, 6)), return_exceptions=True)
    assert all(isinstance(f, RuntimeError) and str(f) == "lost" for f in found), found
    assert rows.batches == [5]
    assert await _kept(rows_db) == []


async def test_the_store_going_away_while_rows_are_tried_alone_fails_the_rest_at_once(
    rows_db: Database,
) -> None:
    # The batch fails for its bad row; the first row alone is written, the bad one fails
    # itself, and the store goes away at the third try: the rows after it are not tried.
    rows = Outage(down=4)
    joined = Joined(rows_db, rows.write, each_statement=_standalone, failure="lost")
    found = await asyncio.gather(
        *(joined.add(n) for n in (1, BAD, 2, 3, 4)), return_exceptions=True
    )
    assert found[0] == "row 1"
    assert all(isinstance(f, RuntimeError) for f in found[1:]), found
    assert rows.batches == [5, 1, 1, 1]
    assert await _kept(rows_db) == [1]
