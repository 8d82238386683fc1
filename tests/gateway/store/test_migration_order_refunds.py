"""Migration 0032: what of an order's payment was refunded, as the models describe it; and
back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import ORDER_SESSIONS_LATER, columns_of, database_at, up_down_up

TABLES = {"funding_orders"}


async def test_0032_adds_the_refunded_column_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0031", database_url, tmp_path, request) as db:
        columns = columns_of("funding_orders")
        before, after = await up_down_up(
            db, "0031", "0032", TABLES, columns, later=ORDER_SESSIONS_LATER
        )
    assert after > before
