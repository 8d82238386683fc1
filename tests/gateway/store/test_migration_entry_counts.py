"""Migration 0016: every wallet keeps the number of its ledger entries, counted from the entries
already there; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateway.store.migrate import alembic_config, upgrade
from gateway.values.clock import utcnow
from tests.fixtures.merchants import unbalanced_wallets
from tests.fixtures.migrations import added_after, database_at, differences, url_of

TABLES = {"wallets"}
# Added to the wallets by a later migration: 0042 (auto top-up's armed threshold).
LATER = {"wallets.auto_top_up_below"} | added_after("0016")

# A merchant's wallet with four entries, a recipient's with one, and a wallet with none yet.
_ROWS = [
    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) VALUES "
    "('mer_1', 'one', 0, :at)",
    "INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents, "
    "created_at, updated_at) VALUES "
    "('wal_m1', 'live', 'm:mer_1', 'mer_1', NULL, NULL, 650, :at, :at), "
    "('wal_s1', 'staging', 'm:mer_1', 'mer_1', NULL, NULL, 0, :at, :at), "
    "('wal_ann', 'live', 'r:mer_1:claude:ann@example.com', 'mer_1', 'claude', "
    "'ann@example.com', 300, :at, :at)",
    "INSERT INTO ledger_entries (wallet_id, env, amount_cents, kind, reference, memo, "
    "created_at) VALUES "
    "('wal_m1', 'live', 1000, 'adjustment', NULL, NULL, :at), "
    "('wal_m1', 'live', -300, 'topup_debit', 'txn_1', NULL, :at), "
    "('wal_ann', 'live', 300, 'topup_credit', 'txn_1', NULL, :at), "
    "('wal_m1', 'live', -100, 'topup_debit', 'txn_2', NULL, :at), "
    "('wal_m1', 'live', 50, 'topup_refund', 'txn_2', NULL, :at)",
]


def _columns(conn: object) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("wallets")}


async def test_0016_counts_each_wallets_entries_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0015", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            for sql in _ROWS:
                await conn.execute(text(sql), {"at": utcnow()})
            assert await conn.run_sync(differences, TABLES, LATER) != []  # the check sees it
        assert await unbalanced_wallets(db, counted=False) == []

        await asyncio.to_thread(upgrade, url, "0016")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
            rows = await conn.execute(text("SELECT id, entry_count FROM wallets"))
            counts = {r.id: r.entry_count for r in rows}
        assert counts == {"wal_m1": 4, "wal_s1": 0, "wal_ann": 1}
        assert await unbalanced_wallets(db, numbered=False) == []

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0015")
        async with db.engine.connect() as conn:
            assert "entry_count" not in await conn.run_sync(_columns)
            left = (await conn.execute(text("SELECT count(*) FROM wallets"))).scalar_one()
        assert left == 3
        assert await unbalanced_wallets(db, counted=False) == []
