"""Migration 0006: the accounts' tables as the models describe them, on both stores, and back."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from gateway.store.models import Base
from tests.fixtures.migrations import database_at, url_of

TABLES = {"users", "merchant_users", "dashboard_sessions"}


def _ours(diff: Any) -> bool:
    """Whether an autogenerate difference concerns one of this migration's tables."""
    for item in diff if isinstance(diff, list) else [diff]:
        for part in item if isinstance(item, tuple) else (item,):
            table = getattr(part, "table", None)
            name = getattr(part, "name", None)
            if (table is not None and table.name in TABLES) or name in TABLES:
                return True
    return False


def _differences(conn: Any) -> list[Any]:
    return [
        d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata) if _ours(d)
    ]


async def test_0006_matches_the_models_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0005", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            missing = await conn.run_sync(_differences)
        assert {d[1].name for d in missing if d[0] == "add_table"} == TABLES  # the check sees
        await asyncio.to_thread(upgrade, url, "0006")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert names >= TABLES
            assert await conn.run_sync(_differences) == []

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0005")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not names & TABLES
        await asyncio.to_thread(upgrade, url, "0006")
