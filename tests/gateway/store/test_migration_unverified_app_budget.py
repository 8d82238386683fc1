"""Migration 0034: a merchant's default daily limit for unverified apps, as the models describe
it; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"merchants"}


async def test_0034_adds_the_unverified_app_budget_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0033", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0033", "0034", TABLES, columns_of("merchants"))
    assert after - before == {"unverified_app_daily_cents"}
