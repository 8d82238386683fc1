"""Migration 0011: the mail outbox and password resets get their tables, top-ups and merchants
their notification switches (on for every row already there); and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import (
    added_after,
    database_at,
    differences,
    insert_old_merchant,
    url_of,
)

# Added to the same tables by later migrations: 0013 (settings), 0014 (retention), 0015
# (recipient lookups), 0019 (voucher redemption), 0034 (unverified apps' budget).
LATER = {
    "merchants.unverified_app_daily_cents",
    "merchants.display_name",
    "merchants.retention_days",
    "wallets.low_balance_threshold_cents",
    "topups.ix_topups_merchant_env_recipient",
    "topups.voucher_hash",
    "topups.redeemed_at",
    "topups.ix_topups_voucher_hash",
} | added_after("0011")

TABLES = {"mails", "password_resets", "merchants", "topups"}


async def test_0011_adds_the_mail_outbox_with_switches_on_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0009", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            await insert_old_merchant(conn, with_topup=True)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) != []  # the check sees the change
        await asyncio.to_thread(upgrade, url, "0011")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
            merchant = (await conn.execute(text("SELECT notify_recipients FROM merchants"))).one()
            topup = (await conn.execute(text("SELECT notify_recipient FROM topups"))).one()
            assert bool(merchant[0]) is True and bool(topup[0]) is True

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0009")
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert "mails" not in names and "password_resets" not in names
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("topups")}
            )
            assert "notify_recipient" not in columns
            kept = (await conn.execute(select(text("id")).select_from(text("topups")))).scalar()
            assert kept == "txn_old"
        await asyncio.to_thread(upgrade, url, "0011")
