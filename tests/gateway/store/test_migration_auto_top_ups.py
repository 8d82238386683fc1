"""Migration 0042: auto top-ups (the settings, the runs with at most one due per wallet, the
armed threshold on the wallet's row), as the models describe them; and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"wallets", "auto_top_ups", "auto_top_up_runs"}


def _look(conn: Connection) -> tuple[set[str], bool]:
    inspected = inspect(conn)
    tables = set(inspected.get_table_names()) & {"auto_top_ups", "auto_top_up_runs"}
    armed = any(c["name"] == "auto_top_up_below" for c in inspected.get_columns("wallets"))
    return tables, armed


async def test_0042_adds_the_auto_top_ups_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0041", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0041", "0042", TABLES, _look)
    assert before == (set(), False)
    assert after == ({"auto_top_ups", "auto_top_up_runs"}, True)
