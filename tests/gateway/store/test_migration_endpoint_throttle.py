"""Migration 0027: the endpoints' throttle columns and the replay jobs' table, as the models
describe them; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"webhook_endpoints", "webhook_deliveries", "webhook_replay_jobs"}
# Columns that later migrations add.
LATER = {"webhook_endpoints.failing_warned_at"}


def _shape(conn: object) -> tuple[set[str], set[str]]:
    found = inspect(conn)
    columns = {c["name"] for c in found.get_columns("webhook_endpoints")}
    return columns, set(found.get_table_names())


async def test_0027_adds_the_throttle_and_the_replay_jobs_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            columns, tables = await conn.run_sync(_shape)
            assert "webhook_replay_jobs" not in tables
            assert await conn.run_sync(differences, TABLES) != []
        await asyncio.to_thread(upgrade, url, "0027")
        async with db.engine.connect() as conn:
            after, tables_after = await conn.run_sync(_shape)
            assert after - columns == {"throttle_per_second", "throttle_next_us"}
            assert "webhook_replay_jobs" in tables_after
            assert await conn.run_sync(differences, TABLES, LATER) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0026")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_shape) == (columns, tables)
        await asyncio.to_thread(upgrade, url, "0027")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
