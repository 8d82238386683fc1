"""Migration 0053: the index of deliveries a throttle holds to their slots; and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"webhook_deliveries"}


def _indexes(conn: Connection) -> set[str]:
    return {str(index["name"]) for index in inspect(conn).get_indexes("webhook_deliveries")}


async def test_0053_adds_the_held_deliveries_index_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0052", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0052", "0053", TABLES, _indexes)
    assert after - before == {"ix_webhook_deliveries_held"}
