"""Migration 0038: a key records whether its maker could see spendable codes, as the models
describe it; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"api_keys"}


async def test_0038_adds_the_key_hides_codes_flag_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0034", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0037", "0038", TABLES, columns_of("api_keys"))
    assert after - before == {"hides_codes"}
