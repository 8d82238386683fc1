"""Migration 0025: plans, subscriptions (one holding a merchant's place per environment) and
their paid periods, as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"plans", "subscriptions", "subscription_invoices"}


async def test_0025_makes_the_plan_and_subscription_tables_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0024", database_url, tmp_path, request) as db:
        before, _ = await up_down_up(db, "0024", "0025", TABLES, table_names)
    assert not before & TABLES
