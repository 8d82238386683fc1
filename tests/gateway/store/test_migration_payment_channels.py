"""Migration 0030: the orders' channel and charge, the payment channels and their notices, as
the models describe them; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"funding_orders", "payment_channels", "payment_notices"}


def _shape(conn: object) -> tuple[set[str], set[str]]:
    found = inspect(conn)
    columns = {c["name"] for c in found.get_columns("funding_orders")}
    return columns, set(found.get_table_names()) & TABLES


async def test_0030_adds_the_channels_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            before = await conn.run_sync(_shape)
            assert await conn.run_sync(differences, TABLES) != []
        await asyncio.to_thread(upgrade, url, "0030")
        async with db.engine.connect() as conn:
            columns, tables = await conn.run_sync(_shape)
            assert columns > before[0] and tables == TABLES
            assert await conn.run_sync(differences, TABLES) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0026")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_shape) == before
        await asyncio.to_thread(upgrade, url, "0030")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) == []
