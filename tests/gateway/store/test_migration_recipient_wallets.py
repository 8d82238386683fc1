"""Migration 0003 splits each shared recipient wallet by the merchant of each entry."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.store.migrate import upgrade
from tests.fixtures.merchants import unbalanced_wallets
from tests.fixtures.migrations import database_at, url_of

# Two merchants sent to ann on claude (m1 twice), one to bob; each top-up's credit entry sits on
# the one shared wallet its address had before, and each merchant's wallet holds its debits.
_ROWS = [
    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) VALUES "
    "('mer_1', 'one', 0, '2026-01-01 00:00:00'), ('mer_2', 'two', 0, '2026-01-01 00:00:00')",
    "INSERT INTO api_keys (id, merchant_id, env, key_hash, display_prefix, created_at) VALUES "
    "('key', 'mer_1', 'live', 'hash', 'ak_live_x', '2026-01-01 00:00:00')",
    "INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents, "
    "created_at, updated_at) VALUES "
    "('wal_m1', 'live', 'm:mer_1', 'mer_1', NULL, NULL, 600, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('wal_m2', 'live', 'm:mer_2', 'mer_2', NULL, NULL, 800, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('wal_ann', 'live', 'r:claude:ann@example.com', NULL, 'claude', 'ann@example.com', 600, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('wal_bob', 'live', 'r:claude:bob@example.com', NULL, 'claude', 'bob@example.com', 50, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents, "
    "recipient_email, recipient_wallet_id, status, recipient_balance_cents, created_at, "
    "updated_at) VALUES "
    "('txn_1', 'live', 'mer_1', 'key', 'claude', 300, 'ann@example.com', 'wal_ann', "
    "'delivered', 300, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('txn_2', 'live', 'mer_2', 'key', 'claude', 200, 'ann@example.com', 'wal_ann', "
    "'delivered', 500, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('txn_3', 'live', 'mer_1', 'key', 'claude', 100, 'ann@example.com', 'wal_ann', "
    "'delivered', 600, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('txn_4', 'live', 'mer_1', 'key', 'claude', 50, 'bob@example.com', 'wal_bob', "
    "'delivered', 50, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO ledger_entries (wallet_id, env, amount_cents, kind, reference, memo, "
    "created_at) VALUES "
    "('wal_m1', 'live', 1050, 'adjustment', NULL, NULL, '2026-01-01 00:00:00'), "
    "('wal_m2', 'live', 1000, 'adjustment', NULL, NULL, '2026-01-01 00:00:00'), "
    "('wal_m1', 'live', -300, 'topup_debit', 'txn_1', NULL, '2026-01-01 00:00:00'), "
    "('wal_ann', 'live', 300, 'topup_credit', 'txn_1', NULL, '2026-01-01 00:00:00'), "
    "('wal_m2', 'live', -200, 'topup_debit', 'txn_2', NULL, '2026-01-01 00:00:00'), "
    "('wal_ann', 'live', 200, 'topup_credit', 'txn_2', NULL, '2026-01-01 00:00:00'), "
    "('wal_m1', 'live', -100, 'topup_debit', 'txn_3', NULL, '2026-01-01 00:00:00'), "
    "('wal_ann', 'live', 100, 'topup_credit', 'txn_3', NULL, '2026-01-01 00:00:00'), "
    "('wal_m1', 'live', -50, 'topup_debit', 'txn_4', NULL, '2026-01-01 00:00:00'), "
    "('wal_bob', 'live', 50, 'topup_credit', 'txn_4', NULL, '2026-01-01 00:00:00')",
]


async def test_shared_recipient_wallets_are_split_by_merchant(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0002", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            for statement in _ROWS:
                await conn.execute(text(statement))
        # Consistent before, as a store would be (its wallets kept no count of entries yet).
        assert await unbalanced_wallets(db, counted=False) == []

        await asyncio.to_thread(upgrade, url_of(db))

        async with db.read() as conn:
            wallets = {
                row.owner: (row.id, row.merchant_id, row.balance_cents)
                for row in await conn.execute(
                    text("SELECT id, owner, merchant_id, balance_cents FROM wallets")
                )
            }
            pointed = {
                row.id: row.recipient_wallet_id
                for row in await conn.execute(text("SELECT id, recipient_wallet_id FROM topups"))
            }
        ann_1 = wallets["r:mer_1:claude:ann@example.com"]
        ann_2 = wallets["r:mer_2:claude:ann@example.com"]
        bob_1 = wallets["r:mer_1:claude:bob@example.com"]
        assert (ann_1[1:], ann_2[1:], bob_1[1:]) == (
            ("mer_1", 400),
            ("mer_2", 200),
            ("mer_1", 50),
        )
        assert "r:claude:ann@example.com" not in wallets  # the shared wallets are gone
        assert "r:claude:bob@example.com" not in wallets
        assert pointed == {
            "txn_1": ann_1[0],
            "txn_2": ann_2[0],
            "txn_3": ann_1[0],
            "txn_4": bob_1[0],
        }
        # 0016 counted the entries where they moved
        assert await unbalanced_wallets(db, numbered=False) == []
