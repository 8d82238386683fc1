"""Migration 0055: an endpoint's held deliveries, a batch's members and a merchant's
``balance.low`` events each in an index of their own; and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"webhook_deliveries", "events"}


def _indexes(conn: Connection) -> set[str]:
    found = inspect(conn)
    return {str(i["name"]) for table in TABLES for i in found.get_indexes(table)}


async def test_0055_adds_the_backlog_indexes_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0054", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0054", "0055", TABLES, _indexes)
    assert after - before == {
        "ix_webhook_deliveries_held_endpoint",
        "ix_webhook_deliveries_batch",
        "ix_events_balance_low",
    }
