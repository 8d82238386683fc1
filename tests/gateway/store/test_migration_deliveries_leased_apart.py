"""Migration 0056: a delivery's lease ends in a column of its own, on pages left half free on
PostgreSQL; and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from gateway.store.models import DELIVERY_FILLFACTOR
from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"webhook_deliveries"}


def _shape(conn: Connection) -> tuple[bool, str | None]:
    """Whether the column is there, and the table's storage options on PostgreSQL."""
    columns = {c["name"] for c in inspect(conn).get_columns("webhook_deliveries")}
    options = None
    if conn.dialect.name == "postgresql":
        found = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'webhook_deliveries'")
        ).scalar()
        options = None if found is None else ",".join(found)
    return "leased_until" in columns, options


async def test_0056_adds_the_lease_column_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0055", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0055", "0056", TABLES, _shape)
    assert before == (False, None)
    on_postgres = not database_url.startswith("sqlite")
    assert after == (True, f"fillfactor={DELIVERY_FILLFACTOR}" if on_postgres else None)
