"""Migration 0006: the accounts' tables as the models describe them, on both stores, and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import added_after, database_at, differences, url_of

# A migration is the store's own: it runs on both whatever folder it sits in.
pytestmark = pytest.mark.both_stores

TABLES = {"users", "merchant_users", "dashboard_sessions"}


async def test_0006_matches_the_models_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0005", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            missing = await conn.run_sync(differences, TABLES)
        assert {d[1].name for d in missing if d[0] == "add_table"} == TABLES  # the check sees
        await asyncio.to_thread(upgrade, url, "0006")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert names >= TABLES
            assert await conn.run_sync(differences, TABLES, added_after("0006")) == []

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0005")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not names & TABLES
        await asyncio.to_thread(upgrade, url, "0006")
