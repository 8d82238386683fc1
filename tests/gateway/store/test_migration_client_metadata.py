"""Migration 0022: the two columns of a client known by its metadata document, as the models
describe them; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"oauth_apps"}


def _columns(conn: object) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("oauth_apps")}


async def test_0022_adds_the_metadata_document_columns_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0021", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) != []
        await asyncio.to_thread(upgrade, url, "0022")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0021")
        async with db.engine.connect() as conn:
            assert not await conn.run_sync(_columns) & {"client_id_url", "fetched_at"}
        await asyncio.to_thread(upgrade, url, "0022")
