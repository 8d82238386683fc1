"""Migration 0044: a merchant's wallet records when its environment was frozen, as the models
describe it; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"wallets"}


async def test_0044_adds_the_wallet_frozen_at_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0043", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0043", "0044", TABLES, columns_of("wallets"))
    assert after - before == {"frozen_at"}
