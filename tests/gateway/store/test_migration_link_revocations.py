"""Migration 0017: the recipient link revocations table, as modelled; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"recipient_link_revocations"}


def _tables(conn: object) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_0017_adds_the_revocations_table_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0016", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES) != []  # the check sees the change
        await asyncio.to_thread(upgrade, url, "0017")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0016")
        async with db.engine.connect() as conn:
            assert "recipient_link_revocations" not in await conn.run_sync(_tables)
