"""Migration 0023: the check-in, check-in settings and test clock tables, as the models
describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"checkins", "checkin_configs", "sandbox_clocks"}


async def test_0023_adds_the_checkin_tables_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0022", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0022", "0023", TABLES, table_names)
    assert not before & TABLES and after >= TABLES
