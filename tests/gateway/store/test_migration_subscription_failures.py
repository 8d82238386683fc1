"""Migration 0030: the failed periods of subscriptions, as the models describe them; and
back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"subscription_failures"}


async def test_0030_adds_the_failed_periods_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0029", database_url, tmp_path, request) as db:
        before, _ = await up_down_up(db, "0029", "0030", TABLES, table_names)
    assert not before & TABLES
