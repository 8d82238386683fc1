"""Migration 0009: merchant names stop being unique (the rows that point at merchants keep
their merchant, on SQLite too, where the table is copied), invitations get their table; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select

from gateway.store.migrate import alembic_config, upgrade
from gateway.store.models import ApiKeyRow, Merchant, table_of
from gateway.values.clock import utcnow
from tests.fixtures.migrations import added_after, database_at, differences, url_of

TABLES = {"merchants", "merchant_invitations"}
# Added by later migrations: 0011 (mail), 0013 (settings), 0014 (retention), 0034 (unverified
# apps' budget), 0036 (invitation links).
LATER = {
    "merchants.unverified_app_daily_cents",
    "merchant_invitations.token_hash",
    "merchant_invitations.expires_at",
    "merchant_invitations.ix_merchant_invitations_token_hash",
    "merchants.notify_recipients",
    "merchants.display_name",
    "merchants.retention_days",
    "merchant_invitations.role",
} | added_after("0009")
_M = table_of(Merchant)
_K = table_of(ApiKeyRow)


async def test_0009_lets_names_repeat_keeps_what_points_at_merchants_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    now = utcnow()
    async with database_at("0008", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(_M).values(
                    id="mer_old", name="Shop", low_balance_threshold_cents=0, created_at=now
                )
            )
            await conn.execute(
                insert(_K).values(
                    id="key_old",
                    merchant_id="mer_old",
                    env="staging",
                    key_hash="h" * 64,
                    display_prefix="ak_staging_abcd",
                    created_at=now,
                )
            )
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) != []  # the check sees the change
        await asyncio.to_thread(upgrade, url, "0009")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
            await conn.execute(
                insert(_M).values(
                    id="mer_new", name="Shop", low_balance_threshold_cents=0, created_at=now
                )
            )
            owner = (await conn.execute(select(_K.c.merchant_id))).scalar_one()
            assert owner == "mer_old"
        async with db.engine.begin() as conn:
            await conn.execute(_M.delete().where(_M.c.id == "mer_new"))

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0008")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert "merchant_invitations" not in names
            unique = await conn.run_sync(lambda c: inspect(c).get_unique_constraints("merchants"))
            assert [u["column_names"] for u in unique] == [["name"]]
        await asyncio.to_thread(upgrade, url, "0009")
