"""Migration 0069: the settles' draws from each grant (``credit_draws``), the wallets' running
total of what was drawn and each debit's end in it, as the models describe them; and back, where
they go."""

from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from tests.fixtures.migrations import columns_of, database_at, table_names, up_down_up

TABLES = {"wallets", "ledger_entries", "credit_draws"}


def _look(conn: Connection) -> tuple[bool, bool, bool]:
    return (
        "credit_draws" in table_names(conn),
        "drawn_cents" in columns_of("wallets")(conn),
        "drawn_through" in columns_of("ledger_entries")(conn),
    )


async def test_0069_adds_the_draws_and_takes_them_away_going_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0068", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0068", "0069", TABLES, _look)
    assert (before, after) == ((False, False, False), (True, True, True))
