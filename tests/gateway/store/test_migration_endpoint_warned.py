"""Migration 0028: when a webhook endpoint's owners were warned of its disabling, as the
models describe it; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"webhook_endpoints"}


async def test_0028_adds_the_failing_warned_column_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        columns = columns_of("webhook_endpoints")
        before, after = await up_down_up(db, "0026", "0028", TABLES, columns)
    assert after > before
