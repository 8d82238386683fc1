"""Migration 0011: the mail outbox and password resets get their tables, top-ups and merchants
their notification switches (on for every row already there); and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from gateway.clock import utcnow
from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

# Added to the same tables by later migrations: 0013 (settings), 0014 (retention), 0015
# (recipient lookups).
LATER = {
    "merchants.display_name",
    "merchants.retention_days",
    "wallets.low_balance_threshold_cents",
    "topups.ix_topups_merchant_env_recipient",
}

TABLES = {"mails", "password_resets", "merchants", "topups"}


async def test_0011_adds_the_mail_outbox_with_switches_on_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    now = utcnow()
    async with database_at("0009", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) "
                    "VALUES ('mer_old', 'Shop', 0, :now)"
                ),
                {"now": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO api_keys (id, merchant_id, env, key_hash, display_prefix, "
                    "created_at) VALUES ('key_old', 'mer_old', 'live', :h, 'ak_live_abcd', :now)"
                ),
                {"h": "h" * 64, "now": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents,"
                    " recipient_email, status, created_at, updated_at) VALUES ('txn_old', 'live',"
                    " 'mer_old', 'key_old', 'claude', 100, 'a@example.com', 'delivered', :now,"
                    " :now)"
                ),
                {"now": now},
            )
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
