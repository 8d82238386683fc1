"""Migration 0018: where recipients redeem, two optional columns of a provider's settings, as
the models describe them; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import added_after, database_at, differences, url_of

TABLES = {"fulfilment_settings"}


def _columns(conn: object) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("fulfilment_settings")}


async def test_0018_adds_where_recipients_redeem_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0017", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) != []
        await asyncio.to_thread(upgrade, url, "0018")
        async with db.engine.connect() as conn:
            # 0062 on add to it too (the OpenRouter allowance).
            assert await conn.run_sync(differences, TABLES, added_after("0018")) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0017")
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(_columns)
        assert not columns & {"redeem_url", "redeem_instructions"}
        await asyncio.to_thread(upgrade, url, "0018")
