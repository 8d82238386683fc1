"""Migration 0029: the staging test inbox's tables, as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"webhook_inboxes", "webhook_inbox_requests"}


async def test_0029_adds_the_inbox_tables_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0026", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0026", "0029", TABLES, table_names)
    assert not before & TABLES and after >= TABLES
