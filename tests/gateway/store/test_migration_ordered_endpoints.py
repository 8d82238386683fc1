"""Migration 0051: an endpoint says whether its deliveries go in order; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"webhook_endpoints", "webhook_deliveries"}


async def test_0051_adds_the_endpoint_ordered_flag_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0050", database_url, tmp_path, request) as db:
        before, after = await up_down_up(
            db, "0050", "0051", TABLES, columns_of("webhook_endpoints")
        )
    assert after - before == {"ordered"}
