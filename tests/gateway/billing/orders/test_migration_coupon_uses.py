"""Migration 0004 on a populated store: coupon uses split by environment from the orders that
hold them, pending checkouts given an expiry, and adjustment memos the merchant could read
(ledger, event bodies, the delivery log's copies) no longer naming the operator or the reason."""

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from gateway.store.migrate import upgrade
from gateway.store.types import UTCDateTime
from tests.fixtures.migrations import database_at, url_of

BEFORE = "0003"
INTERNAL = "alice@ops: chargeback on card 4242, fraud team ticket 99"


def _body(event_id: str, source: str, reference: str, description: str) -> str:
    data = {
        "env": "live",
        "amount_cents": 500,
        "balance_cents": 500,
        "currency": "USD",
        "source": source,
        "reference": reference,
        "description": description,
    }
    body = {"id": event_id, "type": "wallet.credited", "created": "x", "env": "live", "data": data}
    return json.dumps(body, separators=(",", ":"))


ADJ_BODY = _body("evt_adj", "adjustment", "adj_1", INTERNAL)
CHECKOUT_BODY = _body("evt_chk", "checkout", "ord_paid", "Pro pack (25,000 credits)")
PARAMS = {"internal": INTERNAL, "adj_body": ADJ_BODY, "checkout_body": CHECKOUT_BODY}

# Each order's coupon, env and status: uses are held by pending and paid orders.
_ORDERS: list[dict[str, str | None]] = [
    {"id": "ord_s_pending", "env": "staging", "p": "sandbox", "c": "cpn_a", "s": "pending"},
    {"id": "ord_s_paid", "env": "staging", "p": "sandbox", "c": "cpn_a", "s": "completed"},
    {"id": "ord_s_failed", "env": "staging", "p": "sandbox", "c": "cpn_a", "s": "failed"},
    {"id": "ord_l_pending", "env": "live", "p": "stripe", "c": "cpn_a", "s": "pending"},
    {"id": "ord_paid", "env": "live", "p": "stripe", "c": "cpn_b", "s": "completed"},
    {"id": "ord_plain", "env": "live", "p": "stripe", "c": None, "s": "pending"},
]
_INSERT_ORDER = (
    "INSERT INTO funding_orders (id, env, merchant_id, kind, provider, pack_id, pack_name, "
    "coupon_id, credits, credit_cents, price_cents, discount_cents, amount_cents, currency, "
    "status, created_at, updated_at) VALUES (:id, :env, 'mer_1', 'checkout', :p, 'pack_pro', "
    "'Pro', :c, 25000, 2500, 2000, 0, 2000, 'USD', :s, '2026-01-01 00:00:00', "
    "'2026-01-01 00:00:00')"
)
_ROWS = [
    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) VALUES "
    "('mer_1', 'one', 0, '2026-01-01 00:00:00')",
    "INSERT INTO coupons (id, code, percent_off, amount_off_cents, pack_id, expires_at, "
    "max_uses, uses, active, created_at, updated_at) VALUES "
    "('cpn_a', 'AAA', 10, NULL, NULL, NULL, 5, 4, TRUE, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('cpn_b', 'BBB', 10, NULL, NULL, NULL, NULL, 1, TRUE, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('cpn_c', 'CCC', 10, NULL, NULL, NULL, NULL, 0, TRUE, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents, "
    "created_at, updated_at) VALUES ('wal_m', 'live', 'm:mer_1', 'mer_1', NULL, NULL, 1000, "
    "'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO adjustments (id, merchant_id, env, amount_cents, reason, actor, "
    "balance_after_cents, created_at) VALUES ('adj_1', 'mer_1', 'live', 500, "
    "'chargeback on card 4242', 'alice@ops', 500, '2026-01-01 00:00:00')",
    "INSERT INTO ledger_entries (wallet_id, env, amount_cents, kind, reference, memo, "
    "created_at) VALUES "
    "('wal_m', 'live', 500, 'adjustment', 'adj_1', :internal, '2026-01-01 00:00:00'), "
    "('wal_m', 'live', 500, 'checkout', 'ord_paid', 'Pro pack (25,000 credits)', "
    "'2026-01-01 00:00:00')",
    "INSERT INTO events (id, env, merchant_id, type, payload, created_at) VALUES "
    "('evt_adj', 'live', 'mer_1', 'wallet.credited', :adj_body, '2026-01-01 00:00:00'), "
    "('evt_chk', 'live', 'mer_1', 'wallet.credited', :checkout_body, '2026-01-01 00:00:00')",
    "INSERT INTO webhook_endpoints (id, env, merchant_id, url, event_types, enabled, "
    "secret_sealed, created_at, updated_at) VALUES ('we_1', 'live', 'mer_1', "
    "'https://m.example/hook', '', TRUE, 'sealed', '2026-01-01 00:00:00', "
    "'2026-01-01 00:00:00')",
    "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, env, merchant_id, event_type, "
    "status, attempts, trigger, run_start, generation, created_at, updated_at) VALUES "
    "('dlv_adj', 'evt_adj', 'we_1', 'live', 'mer_1', 'wallet.credited', 'succeeded', 1, "
    "'auto', 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
    "('dlv_chk', 'evt_chk', 'we_1', 'live', 'mer_1', 'wallet.credited', 'succeeded', 1, "
    "'auto', 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO webhook_attempts (delivery_id, attempt, trigger, started_at, duration_ms, url, "
    "request_headers, request_body) VALUES "
    "('dlv_adj', 1, 'auto', '2026-01-01 00:00:00', 5, 'https://m.example/hook', '{}', "
    ":adj_body), "
    "('dlv_chk', 1, 'auto', '2026-01-01 00:00:00', 5, 'https://m.example/hook', '{}', "
    ":checkout_body)",
]


async def test_migration_splits_coupon_uses_expires_pending_orders_and_scrubs_memos(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at(BEFORE, database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            for i, statement in enumerate(_ROWS):
                await conn.execute(
                    text(statement), {k: v for k, v in PARAMS.items() if f":{k}" in statement}
                )
                if i == 1:
                    await conn.execute(text(_INSERT_ORDER), _ORDERS)

        await asyncio.to_thread(upgrade, url_of(db))

        async with db.read() as conn:
            uses = {
                (r.coupon_id, r.env): r.uses
                for r in await conn.execute(text("SELECT coupon_id, env, uses FROM coupon_uses"))
            }
            coupon_columns = set((await conn.execute(text("SELECT * FROM coupons"))).keys())
            orders = sa.table(
                "funding_orders",
                sa.column("id", sa.String),
                sa.column("created_at", UTCDateTime()),
                sa.column("expires_at", UTCDateTime()),
            )
            expiry = {
                r.id: (r.expires_at - r.created_at if r.expires_at is not None else None)
                for r in await conn.execute(sa.select(orders))
            }
            memos = {
                r.reference: r.memo
                for r in await conn.execute(text("SELECT reference, memo FROM ledger_entries"))
            }
            payloads = {
                r.id: json.loads(r.payload)["data"]["description"]
                for r in await conn.execute(text("SELECT id, payload FROM events"))
            }
            bodies = {
                r.delivery_id: r.request_body
                for r in await conn.execute(
                    text("SELECT delivery_id, request_body FROM webhook_attempts")
                )
            }

    # Uses held: pending and paid orders, each env apart; the failed order held none.
    assert uses == {("cpn_a", "staging"): 2, ("cpn_a", "live"): 1, ("cpn_b", "live"): 1}
    assert "uses" not in coupon_columns
    assert expiry == {
        "ord_s_pending": timedelta(hours=1),
        "ord_l_pending": timedelta(hours=24),
        "ord_plain": timedelta(hours=24),
        "ord_s_paid": None,
        "ord_s_failed": None,
        "ord_paid": None,
    }
    assert memos == {"adj_1": "Balance adjustment", "ord_paid": "Pro pack (25,000 credits)"}
    assert payloads == {"evt_adj": "Balance adjustment", "evt_chk": "Pro pack (25,000 credits)"}
    assert bodies["dlv_chk"] == CHECKOUT_BODY
    assert "alice" not in bodies["dlv_adj"] and "4242" not in bodies["dlv_adj"]
    assert json.loads(bodies["dlv_adj"]) == {
        **json.loads(ADJ_BODY),
        "data": {**json.loads(ADJ_BODY)["data"], "description": "Balance adjustment"},
    }
