"""Migration 0019: top-ups get the voucher's digest (unique) and when it was redeemed, as
modelled, with the rows already there (none of them found by a digest); and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateway.store.migrate import alembic_config, upgrade
from tests.fixtures.migrations import database_at, differences, insert_old_merchant, url_of

TABLES = {"topups"}


def _columns(conn: object) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("topups")}


async def test_0019_adds_the_voucher_digest_and_redemption_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0018", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            await insert_old_merchant(conn, with_topup=True)
            assert await conn.run_sync(differences, TABLES) != []  # the check sees the change
        await asyncio.to_thread(upgrade, url, "0019")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES) == []
            row = (await conn.execute(text("SELECT voucher_hash, redeemed_at FROM topups"))).one()
            assert tuple(row) == (None, None)
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0018")
        async with db.engine.connect() as conn:
            assert {"voucher_hash", "redeemed_at"}.isdisjoint(await conn.run_sync(_columns))
            count = (await conn.execute(text("SELECT count(*) FROM topups"))).scalar_one()
            assert count == 1
