"""Migration 0026: the webhook endpoints' signing scheme, ed25519 keys and custom headers, as the
models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"webhook_endpoints"}
# Columns that later migrations add.
LATER = {
    "webhook_endpoints.throttle_per_second",
    "webhook_endpoints.throttle_next_us",
    "webhook_endpoints.failing_warned_at",
}


async def test_0026_adds_the_signing_and_header_columns_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0025", database_url, tmp_path, request) as db:
        columns = columns_of("webhook_endpoints")
        before, after = await up_down_up(db, "0025", "0026", TABLES, columns, later=LATER)
    assert after > before
