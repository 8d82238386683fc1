"""Migration 0047: an x402 order's settle payload kept on the order, as the models describe it;
and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"funding_orders"}


def _look(conn: Connection) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns("funding_orders")} & {"payment_payload"}


async def test_0047_adds_the_settle_payload_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0045", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0045", "0047", TABLES, _look)
    assert before == set()
    assert after == {"payment_payload"}
