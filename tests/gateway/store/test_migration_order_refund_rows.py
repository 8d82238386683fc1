"""Migration 0033: the refunds' own table, as the models describe it; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"order_refunds"}


async def test_0033_adds_the_refunds_table_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0032", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0032", "0033", TABLES, table_names)
    assert "order_refunds" not in before and "order_refunds" in after
