"""Migration 0037: an order's provider session is unique per channel, environment and account,
as the models describe it, with the orders and their refunds kept; and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, insert_old_merchant, up_down_up

TABLES = {"funding_orders"}

_ORDER = (
    "INSERT INTO funding_orders (id, env, merchant_id, kind, provider, channel, "
    "provider_session_id, credits, credit_cents, price_cents, discount_cents, amount_cents, "
    "currency, status, created_at, updated_at) VALUES (:id, 'live', 'mer_old', 'checkout', "
    "'epay', :channel, 'T1', 5, 500, 500, 0, 500, 'USD', 'completed', :now, :now)"
)
_REFUND = (
    "INSERT INTO order_refunds (id, order_id, merchant_id, env, amount_cents, before_cents, "
    "debit_cents, status, idempotency_key, attempts, generation, created_at, updated_at) "
    "VALUES ('ref_old', 'ord_old', 'mer_old', 'live', 100, 500, 100, 'succeeded', 'k', 0, 0, "
    ":now, :now)"
)


def _shape(conn: Connection) -> tuple[set[str], list[tuple[str, ...]], int]:
    found = inspect(conn)
    columns = {c["name"] for c in found.get_columns("funding_orders")}
    uniques = sorted(
        tuple(u["column_names"]) for u in found.get_unique_constraints("funding_orders")
    )
    refunds = conn.execute(text("SELECT count(*) FROM order_refunds")).scalar_one()
    return columns, uniques, refunds


async def test_0037_scopes_the_session_per_account_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0033", database_url, tmp_path, request) as db:
        async with db.engine.begin() as conn:
            await insert_old_merchant(conn)
            await conn.execute(text(_ORDER), {"id": "ord_old", "channel": "epay", "now": utcnow()})
            await conn.execute(text(_REFUND), {"now": utcnow()})
        before, after = await up_down_up(db, "0036", "0037", TABLES, _shape)
        async with db.engine.begin() as conn:
            # Another channel's order with the same session id of its own: both stand.
            await conn.execute(text(_ORDER), {"id": "ord_new", "channel": "creem", "now": utcnow()})
            accounts = (
                await conn.execute(text("SELECT provider_account FROM funding_orders"))
            ).scalars()
            assert set(accounts) == {""}
    assert before[1] == [("provider_session_id",)] and before[2] == 1
    assert "provider_account" in after[0] and "provider_account" not in before[0]
    assert after[1] == [("channel", "env", "provider_account", "provider_session_id")]
    assert after[2] == 1  # the refund that refers to the rebuilt table is kept
