"""Migration 0012: orders gain their discount tier and what the provider last said, redemption
codes can be voided; an order made before keeps its figures (tier 0); and back."""

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import inspect

from gateway.store.migrate import alembic_config, upgrade
from gateway.values.clock import utcnow
from tests.fixtures.billing import insert_orders, order_row
from tests.fixtures.migrations import (
    ORDER_SESSIONS_LATER,
    added_after,
    database_at,
    differences,
    url_of,
)

TABLES = {"funding_orders", "redemption_codes"}
# What later migrations add to these tables (0031, 0032) and change of them (0037).
LATER = {
    *(
        f"funding_orders.{name}"
        for name in ("channel", "charge_minor", "charge_currency", "charge_rate", "refunded_cents")
    ),
    *ORDER_SESSIONS_LATER,
} | added_after("0012")


async def test_0012_adds_tiers_provider_state_and_voiding_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    now = utcnow()
    async with database_at("0009", database_url, tmp_path, request) as db:
        url = url_of(db)
        merchants = sa.table(
            "merchants",
            sa.column("id"),
            sa.column("name"),
            sa.column("low_balance_threshold_cents"),
            sa.column("created_at"),
        )
        async with db.engine.begin() as conn:
            await conn.execute(
                merchants.insert().values(
                    id="mer_old", name="Shop", low_balance_threshold_cents=0, created_at=now
                )
            )
            # Only the columns 0009 has.
            old = order_row(
                "mer_old", order_id="ord_old", cents=2000, credits=25000, credit_cents=2500
            )
            await insert_orders(conn, [old])
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) != []
        await asyncio.to_thread(upgrade, url, "0012")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
            kept = (
                await conn.execute(
                    sa.text(
                        "SELECT tier_percent, tier_discount_cents, amount_cents, provider_status"
                        " FROM funding_orders WHERE id = 'ord_old'"
                    )
                )
            ).one()
            assert tuple(kept) == (0, 0, 2000, None)

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0009")
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("funding_orders")}
            )
            assert "provider_status" not in columns and "tier_percent" not in columns
            codes = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("redemption_codes")}
            )
            assert "voided_at" not in codes
        await asyncio.to_thread(upgrade, url, "0012")
