"""Migration 0043: budgets, and ``key_spend`` counting a budget's windows as a key's (its
``key_id`` no longer bound to a key), as the models describe them; and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"budgets", "key_spend"}


def _look(conn: Connection) -> tuple[set[str], list[str]]:
    inspected = inspect(conn)
    columns = set()
    if "budgets" in inspected.get_table_names():
        columns = {c["name"] for c in inspected.get_columns("budgets")}
    keys = sorted(fk["referred_table"] for fk in inspected.get_foreign_keys("key_spend"))
    return columns, keys


async def test_0043_adds_budgets_frees_key_spend_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0042", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0042", "0043", TABLES, _look)
    assert before == (set(), ["api_keys"])
    assert after == (
        {"id", "merchant_id", "env", "name", "windows", "frozen", "created_at", "updated_at"},
        [],
    )
