"""Migration 0016: top-ups get the index the recipients list pages by (merchant, environment,
address), and back; the schema then matches the models."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"topups"}
INDEX = "ix_topups_merchant_env_recipient"


async def test_0016_indexes_top_ups_by_recipient_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0014", database_url, tmp_path, request) as db:
        url = url_of(db)

        async def indexes() -> dict[str, list[str | None]]:
            async with db.engine.connect() as conn:
                found = await conn.run_sync(lambda c: inspect(c).get_indexes("topups"))
            return {i["name"] or "": list(i["column_names"]) for i in found}

        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES) != []  # the check sees the change
        assert INDEX not in await indexes()
        await asyncio.to_thread(upgrade, url, "0016")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES) == []
        assert (await indexes())[INDEX] == ["merchant_id", "env", "recipient_email", "id"]
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0014")
        assert INDEX not in await indexes()
