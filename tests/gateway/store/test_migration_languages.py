"""Migration 0048: the language a person reads the dashboard in, and a merchant's for its
recipients, as the models describe them; and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"users", "merchants"}


def _look(conn: Connection) -> dict[str, bool]:
    inspected = inspect(conn)
    return {
        table: "language" in {c["name"] for c in inspected.get_columns(table)}
        for table in sorted(TABLES)
    }


async def test_0048_adds_the_languages_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0047", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0047", "0048", TABLES, _look)
    assert before == {"merchants": False, "users": False}
    assert after == {"merchants": True, "users": True}
