"""Migration 0076: an endpoint's payload filter (``webhook_endpoints.filter``, ``filter_path``)
and the events filters dropped (``webhook_filtered``), as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"webhook_endpoints", "webhook_filtered"}


async def test_0076_adds_the_filter_and_what_it_dropped_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0075", database_url, tmp_path, request) as db:
        look = columns_of("webhook_endpoints")
        before, after = await up_down_up(db, "0075", "0076", TABLES, look)
    assert not {"filter", "filter_path"} & set(before)
    assert {"filter", "filter_path"} <= set(after)
