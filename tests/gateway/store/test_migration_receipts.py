"""Migration 0024: the billing profile, the receipt series and the receipts, as the models
describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"billing_profiles", "receipt_series", "receipts"}


async def test_0024_adds_the_receipt_tables_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0023", database_url, tmp_path, request) as db:
        before, _ = await up_down_up(db, "0023", "0024", TABLES, table_names)
    assert not before & TABLES
