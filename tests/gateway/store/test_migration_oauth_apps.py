"""Migration 0020: OAuth apps, their codes and tokens, and the consent columns of ``api_keys``,
as the models describe them, on a store with keys and top-ups already in it; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import added_after, database_at, differences, url_of

TABLES = {"oauth_apps", "oauth_codes", "oauth_tokens", "api_keys"}
# What later migrations add to these tables (0022, 0038).
LATER = {"oauth_apps.client_id_url", "oauth_apps.fetched_at", "api_keys.hides_codes"} | added_after(
    "0020"
)


def _tables(conn: object) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_0020_adds_apps_and_consents_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0019", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at,"
                    " notify_recipients) VALUES ('mer_1', 'Shop', 0, '2026-01-01', true)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO api_keys (id, merchant_id, env, key_hash, display_prefix,"
                    " created_at) VALUES ('key_1', 'mer_1', 'live', 'h', 'ak_live_abcd',"
                    " '2026-01-01')"
                )
            )
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) != []
        await asyncio.to_thread(upgrade, url, "0020")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
            kept = await conn.execute(text("SELECT id, app_id FROM api_keys"))
            assert kept.all() == [("key_1", None)]
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0019")
        async with db.engine.connect() as conn:
            assert not await conn.run_sync(_tables) & {"oauth_apps", "oauth_tokens"}
            kept = await conn.execute(text("SELECT id FROM api_keys"))
            assert kept.all() == [("key_1",)]
        await asyncio.to_thread(upgrade, url, "0020")
