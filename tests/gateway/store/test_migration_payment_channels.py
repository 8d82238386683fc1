"""Migration 0031: the orders' channel and charge, the payment channels and their notices, as
the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import (
    column_names,
    database_at,
    differences,
    downgrade_to,
    inspected,
    table_names,
    upgrade_to,
)

TABLES = {"funding_orders", "payment_channels", "payment_notices"}


async def test_0031_adds_the_channels_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0030", database_url, tmp_path, request) as db:
        columns = await inspected(db, column_names, "funding_orders")
        tables = await inspected(db, table_names) & TABLES
        assert await inspected(db, differences, TABLES) != []
        await upgrade_to(db, "0031")
        assert await inspected(db, column_names, "funding_orders") > columns
        assert await inspected(db, table_names) >= TABLES
        assert await inspected(db, differences, TABLES) == []
        await downgrade_to(db, "0030")
        assert await inspected(db, column_names, "funding_orders") == columns
        assert await inspected(db, table_names) & TABLES == tables
        await upgrade_to(db, "0031")
        assert await inspected(db, differences, TABLES) == []
