"""Migration 0030: the failed periods of subscriptions, as the models describe them; and
back."""

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

TABLES = {"subscription_failures"}


async def test_0030_adds_the_failed_periods_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0029", database_url, tmp_path, request) as db:
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0030")
        assert await inspected(db, differences, TABLES) == []
        await downgrade_to(db, "0029")
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0030")
