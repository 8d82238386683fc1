"""Migrations 0053 and 0054: the index of deliveries a throttle holds to their slots, then keyed
by status and due time as the due index is; and back."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"webhook_deliveries"}
HELD = "ix_webhook_deliveries_held"


def _held_columns(conn: Connection) -> list[Any] | None:
    found = [i for i in inspect(conn).get_indexes("webhook_deliveries") if i["name"] == HELD]
    return list(found[0]["column_names"]) if found else None


async def test_0053_adds_the_held_deliveries_index_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """With 0054, which the models' index is as 0054 left it."""
    async with database_at("0052", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0052", "0054", TABLES, _held_columns)
    assert (before, after) == (None, ["status", "next_attempt_at"])


async def test_0054_keys_the_held_index_by_status_and_due_time_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0053", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0053", "0054", TABLES, _held_columns)
    assert (before, after) == (["next_attempt_at"], ["status", "next_attempt_at"])
