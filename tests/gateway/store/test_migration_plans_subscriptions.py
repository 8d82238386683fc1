"""Migration 0025: plans, subscriptions (one holding a merchant's place per environment) and
their paid periods, as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import (
    database_at,
    differences,
    downgrade_to,
    inspected,
    table_names,
    upgrade_to,
)

TABLES = {"plans", "subscriptions", "subscription_invoices"}


async def test_0025_makes_the_plan_and_subscription_tables_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0024", database_url, tmp_path, request) as db:
        assert await inspected(db, differences, TABLES) != []
        await upgrade_to(db, "0025")
        assert await inspected(db, differences, TABLES) == []
        await downgrade_to(db, "0024")
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0025")
        assert await inspected(db, differences, TABLES) == []
