"""Migration 0049: an endpoint says which retry schedule its deliveries follow, as the models
describe it; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"webhook_endpoints"}


async def test_0049_adds_the_endpoint_retry_schedule_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0041", database_url, tmp_path, request) as db:
        before, after = await up_down_up(
            db, "0041", "0049", TABLES, columns_of("webhook_endpoints")
        )
    assert after - before == {"retry_schedule"}
