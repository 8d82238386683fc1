"""Migration 0068: the wallets' undrawn debits in place of their grants' version, as the models
describe them; and back, where each wallet's undrawn debits are drawn from its grants in the
draw order first, so the grants hold the balance again."""

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gateway.values.clock import utcnow
from tests.fixtures.migrations import (
    columns_of,
    database_at,
    downgrade_to,
    insert_old_merchant,
    up_down_up,
)

TABLES = {"wallets"}
WALLET = "wal_" + "u" * 24
# (id, category, priority, amount): drawn promotional first, then paid at priority 50, then 90.
GRANTS = (
    ("cg_late", "paid", 90, 500),
    ("cg_paid", "paid", 50, 400),
    ("cg_promo", "promotional", 50, 300),
)


def _look(conn: Connection) -> tuple[bool, bool]:
    columns = columns_of("wallets")(conn)
    return "undrawn_cents" in columns, "grants_version" in columns


def _remaining(conn: Connection) -> dict[str, int]:
    rows = conn.execute(text("SELECT id, remaining_cents FROM credit_grants"))
    return {r.id: int(r.remaining_cents) for r in rows}


async def test_0068_keeps_undrawn_debits_and_draws_them_going_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    now = utcnow()
    async with database_at("0067", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await conn.execute(
                text(
                    "INSERT INTO wallets (id, env, owner, merchant_id, balance_cents, "
                    "entry_count, created_at, updated_at) "
                    "VALUES (:id, 'live', 'm:mer_old', 'mer_old', 1200, 3, :now, :now)"
                ),
                {"id": WALLET, "now": now},
            )
            for grant_id, category, priority, amount in GRANTS:
                await conn.execute(
                    text(
                        "INSERT INTO credit_grants (id, wallet_id, env, category, priority, "
                        "amount_cents, remaining_cents, effective_at, created_at) VALUES "
                        "(:id, :w, 'live', :c, :p, :a, :a, :now, :now)"
                    ),
                    {
                        "id": grant_id,
                        "w": WALLET,
                        "c": category,
                        "p": priority,
                        "a": amount,
                        "now": now,
                    },
                )
        before, after = await up_down_up(db, "0067", "0068", TABLES, _look)
        assert (before, after) == ((False, True), (True, False))
        # 450 taken by debits and not yet drawn: going back draws it in the order.
        async with db.transaction() as conn:
            await conn.execute(
                text("UPDATE wallets SET balance_cents = 750, undrawn_cents = 450 WHERE id = :w"),
                {"w": WALLET},
            )
        await downgrade_to(db, "0067")
        async with db.read() as conn:
            drawn = await conn.run_sync(_remaining)
    assert drawn == {"cg_promo": 0, "cg_paid": 250, "cg_late": 500}
