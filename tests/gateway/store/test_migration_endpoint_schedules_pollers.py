"""Migration 0049: an endpoint says which retry schedule its deliveries follow, and pollers have
their table, as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, table_names, up_down_up

TABLES = {"webhook_endpoints", "webhook_deliveries", "webhook_pollers"}


async def test_0049_adds_the_endpoint_retry_schedule_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0048", database_url, tmp_path, request) as db:
        before, after = await up_down_up(
            db, "0048", "0049", TABLES, columns_of("webhook_endpoints")
        )
    assert after - before == {"retry_schedule"}


async def test_0049_adds_the_pollers_table_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0048", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0048", "0049", TABLES, table_names)
    assert after - before == {"webhook_pollers"}
