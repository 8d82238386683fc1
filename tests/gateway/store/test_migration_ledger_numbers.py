"""Migration 0060: every ledger entry gets its number in its wallet, the entries already there
numbered per wallet in the order they were written; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from gateway.store.migrate import alembic_config, upgrade
from gateway.values.clock import utcnow
from tests.fixtures.merchants import unbalanced_wallets
from tests.fixtures.migrations import columns_of, database_at, up_down_up, url_of

TABLES = {"ledger_entries"}

# Two merchants' wallets and a recipient's, their entries interleaved as sends would write them;
# a wallet with none yet.
_ROWS = [
    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) VALUES "
    "('mer_1', 'one', 0, :at), ('mer_2', 'two', 0, :at)",
    "INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents,"
    " entry_count, created_at, updated_at) VALUES "
    "('wal_m1', 'live', 'm:mer_1', 'mer_1', NULL, NULL, 650, 4, :at, :at), "
    "('wal_m2', 'live', 'm:mer_2', 'mer_2', NULL, NULL, 900, 2, :at, :at), "
    "('wal_s1', 'staging', 'm:mer_1', 'mer_1', NULL, NULL, 0, 0, :at, :at), "
    "('wal_ann', 'live', 'r:mer_1:claude:ann@example.com', 'mer_1', 'claude',"
    " 'ann@example.com', 300, 1, :at, :at)",
    "INSERT INTO ledger_entries (wallet_id, env, amount_cents, kind, reference, memo,"
    " created_at) VALUES "
    "('wal_m1', 'live', 1000, 'adjustment', NULL, NULL, :at), "
    "('wal_m2', 'live', 1000, 'adjustment', NULL, NULL, :at), "
    "('wal_m1', 'live', -300, 'topup_debit', 'txn_1', NULL, :at), "
    "('wal_ann', 'live', 300, 'topup_credit', 'txn_1', NULL, :at), "
    "('wal_m2', 'live', -100, 'topup_debit', 'txn_2', NULL, :at), "
    "('wal_m1', 'live', -100, 'topup_debit', 'txn_3', NULL, :at), "
    "('wal_m1', 'live', 50, 'topup_refund', 'txn_3', NULL, :at)",
]


async def test_0060_numbers_each_wallets_entries_in_order_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0059", database_url, tmp_path, request) as db:
        async with db.engine.begin() as conn:
            for sql in _ROWS:
                await conn.execute(text(sql), {"at": utcnow()})
        await asyncio.to_thread(upgrade, url_of(db), "0060")
        async with db.read() as conn:
            rows = await conn.execute(
                text("SELECT wallet_id, kind, number FROM ledger_entries ORDER BY id")
            )
            numbered = [tuple(r) for r in rows]
        assert numbered == [
            ("wal_m1", "adjustment", 1),
            ("wal_m2", "adjustment", 1),
            ("wal_m1", "topup_debit", 2),
            ("wal_ann", "topup_credit", 1),
            ("wal_m2", "topup_debit", 2),
            ("wal_m1", "topup_debit", 3),
            ("wal_m1", "topup_refund", 4),
        ]
        assert await unbalanced_wallets(db) == []
        await asyncio.to_thread(command.downgrade, alembic_config(url_of(db)), "0059")
        before, after = await up_down_up(db, "0059", "0060", TABLES, columns_of("ledger_entries"))
    assert after - before == {"number"}
