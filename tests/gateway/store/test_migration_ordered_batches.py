"""Migration 0052: an endpoint's batch size, the batch a delivery was first sent in and the
partial index that finds an ordered endpoint's head, as the models describe them; and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"webhook_endpoints", "webhook_deliveries"}


def _look(conn: Connection) -> tuple[bool, bool, bool]:
    inspected = inspect(conn)
    endpoints = {c["name"] for c in inspected.get_columns("webhook_endpoints")}
    deliveries = {c["name"] for c in inspected.get_columns("webhook_deliveries")}
    indexes = {i["name"] for i in inspected.get_indexes("webhook_deliveries")}
    return (
        "batch_size" in endpoints,
        "batch_head" in deliveries,
        "ix_webhook_deliveries_ordered_head" in indexes,
    )


async def test_0052_adds_batches_and_the_ordered_head_index_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0051", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0051", "0052", TABLES, _look)
    assert before == (False, False, False)
    assert after == (True, True, True)
