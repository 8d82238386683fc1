"""Migration 0027: the endpoints' throttle columns and the replay jobs' table, as the models
describe them; and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"webhook_endpoints", "webhook_deliveries", "webhook_replay_jobs"}
# Columns that later migrations add.
LATER = {"webhook_endpoints.failing_warned_at"}


def _shape(conn: Connection) -> tuple[set[str], set[str]]:
    found = inspect(conn)
    columns = {c["name"] for c in found.get_columns("webhook_endpoints")}
    return columns, set(found.get_table_names())


async def test_0027_adds_the_throttle_and_the_replay_jobs_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0026", "0027", TABLES, _shape, later=LATER)
    assert after[0] - before[0] == {"throttle_per_second", "throttle_next_us"}
    assert "webhook_replay_jobs" not in before[1] and "webhook_replay_jobs" in after[1]
