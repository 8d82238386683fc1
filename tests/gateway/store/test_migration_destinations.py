"""Migration 0075: an endpoint's destination type (``http`` for every endpoint before) and its
destination object, sealed and as shown, as the model describes them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"webhook_endpoints"}


async def test_0075_adds_the_destination_columns_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0074", database_url, tmp_path, request) as db:
        look = columns_of("webhook_endpoints")
        before, after = await up_down_up(db, "0074", "0075", TABLES, look)
    new = {"destination_type", "destination_sealed", "destination_shown"}
    assert not new & set(before)
    assert new <= set(after)
