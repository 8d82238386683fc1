"""Migration 0023: the check-in, check-in settings and test clock tables, as the models
describe them; and back."""

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

TABLES = {"checkins", "checkin_configs", "sandbox_clocks"}


async def test_0023_adds_the_checkin_tables_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0022", database_url, tmp_path, request) as db:
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0023")
        assert await inspected(db, table_names) >= TABLES
        assert await inspected(db, differences, TABLES) == []
        await downgrade_to(db, "0022")
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0023")
