"""Migration 0010: the fulfilment tables, as the models describe them; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import added_after, database_at, differences, url_of

TABLES = {"fulfilment_settings", "fulfilments", "upstream_keys"}
# Added to the same tables by later migrations: 0018 (where recipients redeem), 0062 on (the
# OpenRouter allowance).
LATER = {
    "fulfilment_settings.redeem_url",
    "fulfilment_settings.redeem_instructions",
    *added_after("0010"),
}


async def test_0010_makes_the_fulfilment_tables_as_modelled_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0009", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) != []
        await asyncio.to_thread(upgrade, url, "0010")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0009")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not names & TABLES
        await asyncio.to_thread(upgrade, url, "0010")
