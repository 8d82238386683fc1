"""Migration 0031: the orders' channel and charge, the payment channels and their notices, as
the models describe them; and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.fixtures.migrations import ORDER_SESSIONS_LATER, database_at, up_down_up

TABLES = {"funding_orders", "payment_channels", "payment_notices"}


def _shape(conn: Connection) -> tuple[set[str], set[str]]:
    found = inspect(conn)
    columns = {c["name"] for c in found.get_columns("funding_orders")}
    return columns, set(found.get_table_names()) & TABLES


async def test_0031_adds_the_channels_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0030", database_url, tmp_path, request) as db:
        before, after = await up_down_up(
            db,
            "0030",
            "0031",
            TABLES,
            _shape,
            later={"funding_orders.refunded_cents", *ORDER_SESSIONS_LATER},
        )
    assert after[0] > before[0] and after[1] == TABLES
