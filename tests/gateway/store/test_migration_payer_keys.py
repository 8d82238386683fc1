"""Migration 0063: the merchants' payer keys, as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"payer_keys"}


async def test_0063_adds_the_payer_keys_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0062", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0062", "0063", TABLES, table_names)
    assert "payer_keys" not in before
    assert "payer_keys" in after
