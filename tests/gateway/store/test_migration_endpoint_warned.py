"""Migration 0028: when a webhook endpoint's owners were warned of its disabling, as the
models describe it; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"webhook_endpoints"}


def _columns(conn: object) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("webhook_endpoints")}


async def test_0028_adds_the_failing_warned_column_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            before = await conn.run_sync(_columns)
            assert await conn.run_sync(differences, TABLES) != []
        await asyncio.to_thread(upgrade, url, "0028")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_columns) > before
            assert await conn.run_sync(differences, TABLES) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0026")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_columns) == before
        await asyncio.to_thread(upgrade, url, "0028")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) == []
