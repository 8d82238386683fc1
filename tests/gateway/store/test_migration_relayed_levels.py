"""Migration 0067: the partial index Telegram's relay reads holds a key's and a budget's level
events beside the wallet's, its predicate the models' (``RELAYED_EVENTS``); and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from gateway.store.engine import Database
from gateway.store.migrate import alembic_config, upgrade
from gateway.store.models import RELAYED_TYPES
from tests.fixtures.migrations import database_at, url_of

INDEX = "ix_events_balance_low"
WINDOWS = {"key.budget_threshold", "key.budget_recovered", "budget.threshold", "budget.recovered"}


async def _relayed(db: Database) -> set[str]:
    """The event types the index's predicate names."""
    query = (
        "SELECT sql FROM sqlite_master WHERE name = :name"
        if db.is_sqlite
        else "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    )
    async with db.read() as conn:
        found = str((await conn.execute(text(query), {"name": INDEX})).scalar_one())
    return {t for t in {*RELAYED_TYPES, *WINDOWS} if f"'{t}'" in found}


async def test_0067_widens_the_relayed_index_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0066", database_url, tmp_path, request) as db:
        assert await _relayed(db) == {"balance.low", "balance.recovered"}
        await asyncio.to_thread(upgrade, url_of(db), "0067")
        assert (
            await _relayed(db)
            == set(RELAYED_TYPES)
            == {
                "balance.low",
                "balance.recovered",
                *WINDOWS,
            }
        )
        await asyncio.to_thread(command.downgrade, alembic_config(url_of(db)), "0066")
        assert await _relayed(db) == {"balance.low", "balance.recovered"}
        await asyncio.to_thread(upgrade, url_of(db), "0067")
        assert await _relayed(db) == set(RELAYED_TYPES)
