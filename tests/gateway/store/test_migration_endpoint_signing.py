"""Migration 0026: the webhook endpoints' signing scheme, ed25519 keys and custom headers, as the
models describe them; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"webhook_endpoints"}
# Columns that later migrations add.
LATER = {
    "webhook_endpoints.throttle_per_second",
    "webhook_endpoints.throttle_next_us",
    "webhook_endpoints.failing_warned_at",
}


def _columns(conn: object) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("webhook_endpoints")}


async def test_0026_adds_the_signing_and_header_columns_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0025", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.connect() as conn:
            before = await conn.run_sync(_columns)
            assert await conn.run_sync(differences, TABLES) != []
        await asyncio.to_thread(upgrade, url, "0026")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_columns) > before
            assert await conn.run_sync(differences, TABLES, LATER) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0025")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_columns) == before
        await asyncio.to_thread(upgrade, url, "0026")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
