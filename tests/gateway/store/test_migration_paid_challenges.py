"""Migration 0070: the challenges merchants paid, as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"seller_payment_challenges"}


async def test_0070_adds_the_paid_challenges_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0069", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0069", "0070", TABLES, table_names)
    assert "seller_payment_challenges" not in before
    assert "seller_payment_challenges" in after
