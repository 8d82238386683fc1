"""Migration 0027: the endpoints' throttle columns and the replay jobs' table, as the models
describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import (
    column_names,
    database_at,
    differences,
    downgrade_to,
    inspected,
    table_names,
    upgrade_to,
)

TABLES = {"webhook_endpoints", "webhook_deliveries", "webhook_replay_jobs"}
# Columns that later migrations add.
LATER = {"webhook_endpoints.failing_warned_at"}


async def test_0027_adds_the_throttle_and_the_replay_jobs_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        columns = await inspected(db, column_names, "webhook_endpoints")
        tables = await inspected(db, table_names)
        assert "webhook_replay_jobs" not in tables
        assert await inspected(db, differences, TABLES) != []
        await upgrade_to(db, "0027")
        after = await inspected(db, column_names, "webhook_endpoints")
        assert after - columns == {"throttle_per_second", "throttle_next_us"}
        assert "webhook_replay_jobs" in await inspected(db, table_names)
        assert await inspected(db, differences, TABLES, LATER) == []
        await downgrade_to(db, "0026")
        assert await inspected(db, column_names, "webhook_endpoints") == columns
        assert await inspected(db, table_names) == tables
        await upgrade_to(db, "0027")
        assert await inspected(db, differences, TABLES, LATER) == []
