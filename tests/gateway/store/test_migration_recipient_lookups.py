"""Migration 0015: top-ups get their index by recipient, as modelled, with the rows already
there; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateway.clock import utcnow
from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, url_of

TABLES = {"topups"}
INDEX = "ix_topups_merchant_env_recipient"


def _indexes(conn: object) -> set[str]:
    return {i["name"] for i in inspect(conn).get_indexes("topups")}


async def test_0015_indexes_top_ups_by_recipient_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    now = utcnow()
    async with database_at("0014", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            for sql in (
                "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) "
                "VALUES ('mer_old', 'Shop', 0, :now)",
                "INSERT INTO api_keys (id, merchant_id, env, key_hash, display_prefix, "
                "created_at) VALUES ('key_old', 'mer_old', 'live', :h, 'ak_live_abcd', :now)",
                "INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents,"
                " recipient_email, status, created_at, updated_at) VALUES ('txn_old', 'live',"
                " 'mer_old', 'key_old', 'claude', 100, 'a@example.com', 'delivered', :now, :now)",
            ):
                await conn.execute(text(sql), {"now": now, "h": "h" * 64})
            assert await conn.run_sync(differences, TABLES) != []  # the check sees the change
        await asyncio.to_thread(upgrade, url, "0015")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES) == []
            assert INDEX in await conn.run_sync(_indexes)
            found = await conn.execute(
                text(
                    "SELECT id FROM topups WHERE merchant_id = 'mer_old' AND env = 'live' "
                    "AND recipient_email = 'a@example.com'"
                )
            )
            assert found.scalar_one() == "txn_old"
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0014")
        async with db.engine.connect() as conn:
            assert INDEX not in await conn.run_sync(_indexes)
            count = (await conn.execute(text("SELECT count(*) FROM topups"))).scalar_one()
            assert count == 1
