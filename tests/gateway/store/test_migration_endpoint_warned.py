"""Migration 0028: when a webhook endpoint's owners were warned of its disabling, as the
models describe it; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import (
    column_names,
    database_at,
    differences,
    downgrade_to,
    inspected,
    upgrade_to,
)

TABLES = {"webhook_endpoints"}


async def test_0028_adds_the_failing_warned_column_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        before = await inspected(db, column_names, "webhook_endpoints")
        assert await inspected(db, differences, TABLES) != []
        await upgrade_to(db, "0028")
        assert await inspected(db, column_names, "webhook_endpoints") > before
        assert await inspected(db, differences, TABLES) == []
        await downgrade_to(db, "0026")
        assert await inspected(db, column_names, "webhook_endpoints") == before
        await upgrade_to(db, "0028")
        assert await inspected(db, differences, TABLES) == []
