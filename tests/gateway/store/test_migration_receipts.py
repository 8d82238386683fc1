"""Migration 0024: the billing profile, the receipt series and the receipts, as the models
describe them; and back."""

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

TABLES = {"billing_profiles", "receipt_series", "receipts"}


async def test_0024_adds_the_receipt_tables_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0023", database_url, tmp_path, request) as db:
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0024")
        assert await inspected(db, differences, TABLES) == []
        await downgrade_to(db, "0023")
        assert not await inspected(db, table_names) & TABLES
        await upgrade_to(db, "0024")
