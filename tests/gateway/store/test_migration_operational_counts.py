"""Migration 0035: the operational events' counts, as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"webhook_operational_counts"}


async def test_0035_adds_the_operational_counts_table_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0033", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0034", "0035", TABLES, table_names)
    assert "webhook_operational_counts" not in before and "webhook_operational_counts" in after
