"""Migration 0029: the staging test inbox's tables, as the models describe them; and back."""

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

TABLES = {"webhook_inboxes", "webhook_inbox_requests"}


async def test_0029_adds_the_inbox_tables_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0029")
        assert await inspected(db, table_names) >= TABLES
        assert await inspected(db, differences, TABLES) == []
        await downgrade_to(db, "0026")
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0029")
        assert await inspected(db, differences, TABLES) == []
