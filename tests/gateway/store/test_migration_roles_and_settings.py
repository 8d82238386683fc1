"""Migration 0013: members made before roles become owners, waiting invitations grant a role,
merchants get a display name and their wallets a threshold of their own; and back."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateway.store.migrate import alembic_config, upgrade
from gateway.values.clock import utcnow
from tests.fixtures.migrations import (
    added_after,
    database_at,
    differences,
    insert_old_merchant,
    url_of,
)

# Added to the same tables by later migrations: 0014 (retention), 0016 (entry counts).
# Added by later migrations: 0014 (retention), wallets' entry counts, 0034 (unverified apps'
# budget), 0036 (invitation links), 0042 (auto top-up's armed threshold).
LATER = {
    "merchants.retention_days",
    "wallets.entry_count",
    "wallets.auto_top_up_below",
    "merchants.unverified_app_daily_cents",
    "merchant_invitations.token_hash",
    "merchant_invitations.expires_at",
    "merchant_invitations.ix_merchant_invitations_token_hash",
} | added_after("0013")

TABLES = {"merchants", "merchant_users", "merchant_invitations", "wallets"}


async def test_0013_makes_every_member_an_owner_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    now = utcnow()
    async with database_at("0009", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.engine.begin() as conn:
            await insert_old_merchant(conn, low_balance_threshold_cents=500)
            for user in ("usr_a", "usr_b", "usr_c"):
                await conn.execute(
                    text("INSERT INTO users (id, email, created_at) VALUES (:id, :email, :now)"),
                    {"id": user, "email": f"{user}@example.com", "now": now},
                )
            for user in ("usr_a", "usr_b"):
                await conn.execute(
                    text(
                        "INSERT INTO merchant_users (merchant_id, user_id, role, created_at) "
                        "VALUES ('mer_old', :id, :role, :now)"
                    ),
                    {"id": user, "role": "owner" if user == "usr_a" else "member", "now": now},
                )
            await conn.execute(
                text(
                    "INSERT INTO merchant_invitations (merchant_id, user_id, created_at) "
                    "VALUES ('mer_old', 'usr_c', :now)"
                ),
                {"now": now},
            )
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences, TABLES) != []  # the check sees the change
        await asyncio.to_thread(upgrade, url, "0013")
        async with db.engine.begin() as conn:
            assert await conn.run_sync(differences, TABLES, LATER) == []
            roles = (await conn.execute(text("SELECT role FROM merchant_users"))).scalars().all()
            assert roles == ["owner", "owner"]
            waiting = (await conn.execute(text("SELECT role FROM merchant_invitations"))).scalar()
            assert waiting == "owner"
            named = (await conn.execute(text("SELECT display_name FROM merchants"))).scalar()
            assert named is None

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0009")
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(lambda c: inspect(c).get_columns("wallets"))
            assert "low_balance_threshold_cents" not in {c["name"] for c in columns}
        await asyncio.to_thread(upgrade, url, "0013")
