"""Migration 0014: merchants get their own retention (null: the default), and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import (
    added_after,
    database_at,
    differences,
    insert_old_merchant,
    url_of,
)

TABLES = {"merchants"}
# Added by a later migration: 0034 (unverified apps' budget).
LATER = {"merchants.unverified_app_daily_cents"} | added_after("0014")


async def test_0014_adds_a_retention_per_merchant_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0009", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            await insert_old_merchant(conn)
            assert (
                await conn.run_sync(differences, TABLES, LATER) != []
            )  # the check sees the change
        await asyncio.to_thread(upgrade, url, "0014")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
            kept = (await conn.execute(text("SELECT retention_days FROM merchants"))).all()
            assert [tuple(r) for r in kept] == [(None,)]  # an existing merchant keeps the default
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0009")
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("merchants")}
            )
            assert "retention_days" not in columns
            count = (await conn.execute(text("SELECT count(*) FROM merchants"))).scalar_one()
            assert count == 1
