"""Migration 0030: the failed periods of subscriptions, as the models describe them; and
back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"subscription_failures"}


def _tables(conn: object) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_0030_adds_the_failed_periods_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0029", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            assert not await conn.run_sync(_tables) & TABLES
        await asyncio.to_thread(upgrade, url, "0030")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0029")
        async with db.engine.connect() as conn:
            assert not await conn.run_sync(_tables) & TABLES
        await asyncio.to_thread(upgrade, url, "0030")
