"""Migration 0015: top-ups get their index by recipient, as modelled, with the rows already
there; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, insert_old_merchant, url_of

TABLES = {"topups"}
INDEX = "ix_topups_merchant_env_recipient"
LATER = {"topups.voucher_hash", "topups.redeemed_at", "topups.ix_topups_voucher_hash"}  # 0019


def _indexes(conn: object) -> set[str]:
    return {i["name"] for i in inspect(conn).get_indexes("topups")}


async def test_0015_indexes_top_ups_by_recipient_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0014", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            await insert_old_merchant(conn, with_topup=True)
            assert await conn.run_sync(differences, TABLES) != []  # the check sees the change
        await asyncio.to_thread(upgrade, url, "0015")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
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
