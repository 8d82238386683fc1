"""Migration 0065: credit grants, the wallets' grants version and the plans' ``credits_expire``,
as the models describe them; each merchant wallet's balance becomes one paid grant without
expiry (none for an empty wallet or a recipient's); and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, insert_old_merchant, up_down_up

TABLES = {"wallets", "plans", "credit_grants"}
FUNDED = "wal_" + "f" * 24
EMPTY = "wal_" + "e" * 24
RECIPIENT = "wal_" + "r" * 24


def _look(conn: Connection) -> tuple[bool, list[tuple[object, ...]]]:
    """Whether the grants' table is there, and its rows."""
    if "credit_grants" not in inspect(conn).get_table_names():
        return False, []
    rows = conn.execute(
        text(
            "SELECT id, wallet_id, env, category, priority, amount_cents, remaining_cents, "
            "expires_at FROM credit_grants ORDER BY id"
        )
    )
    return True, [tuple(r) for r in rows]


async def test_0065_makes_each_merchant_balance_a_paid_grant_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0064", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            for wallet_id, owner, balance, count in (
                (FUNDED, "m:mer_old", 1234, 3),
                (EMPTY, "m:mer_old", 0, 2),
                (RECIPIENT, "r:mer_old:claude:a@example.com", 500, 1),
            ):
                env = "staging" if wallet_id == EMPTY else "live"
                await conn.execute(
                    text(
                        "INSERT INTO wallets (id, env, owner, merchant_id, balance_cents, "
                        "entry_count, created_at, updated_at) "
                        "VALUES (:id, :env, :owner, 'mer_old', :b, :n, :now, :now)"
                    ),
                    {
                        "id": wallet_id,
                        "env": env,
                        "owner": owner,
                        "b": balance,
                        "n": count,
                        "now": utcnow(),
                    },
                )
        before, after = await up_down_up(db, "0064", "0065", TABLES, _look)
    assert before == (False, [])
    assert after == (
        True,
        [("cg_" + "f" * 24 + "_3", FUNDED, "live", "paid", 50, 1234, 1234, None)],
    )
