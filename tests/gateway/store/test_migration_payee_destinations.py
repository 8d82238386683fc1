"""Migration 0071: a payment to a seller keeps its destination (one written before takes its
protocol and payee), a key's payments are indexed by it, and ``payee_bindings`` holds the
destinations a person bound to an origin, once each; and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, insert_old_merchant, up_down_up

TABLES = {"seller_payments", "payee_bindings"}
PAY_TO = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"


def _look(conn: Connection) -> tuple[set[str], set[str]]:
    """The payments' columns, and the tables."""
    found = inspect(conn)
    return {c["name"] for c in found.get_columns("seller_payments")}, set(found.get_table_names())


async def test_0071_keeps_destinations_and_bindings_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0070", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn, with_topup=True)
            now = utcnow()
            await conn.execute(
                text(
                    "INSERT INTO seller_payments (id, env, merchant_id, api_key_id, wallet_id, "
                    "status, amount_cents, currency, protocol, payee, payee_origin, url, "
                    "challenge, header, idempotency_key, expires_at, created_at, updated_at) "
                    "VALUES ('pay_old', 'live', :m, :k, 'w', 'used', 25, 'usd', 'x402', :to, "
                    "'https://seller.example', 'https://seller.example/x', 'c', 'h', 'i', :n, "
                    ":n, :n)"
                ),
                {"m": "mer_old", "k": "key_old", "to": PAY_TO, "n": now},
            )
        before, after = await up_down_up(db, "0070", "0071", TABLES, _look)
        async with db.read() as conn:
            kept = (
                await conn.execute(text("SELECT destination FROM seller_payments"))
            ).scalar_one()
        assert kept == f"x402:{PAY_TO.lower()}"
        row = {"m": "mer_old", "n": utcnow()}
        insert = text(
            "INSERT INTO payee_bindings (id, merchant_id, env, origin, destination, bound_by, "
            "created_at) VALUES (:id, :m, 'live', 'https://seller.example', 'x402:a', 'user:u', "
            ":n)"
        )
        async with db.transaction() as conn:
            await conn.execute(insert, {**row, "id": "pb_1"})
        with pytest.raises(IntegrityError):  # one binding of a destination to an origin
            async with db.transaction() as conn:
                await conn.execute(insert, {**row, "id": "pb_2"})
    assert "destination" not in before[0] and "destination" in after[0]
    assert "payee_bindings" not in before[1] and "payee_bindings" in after[1]
