"""Migration 0036: an invitation's one-time link (its token's hash, its expiry), as the models
describe it; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"merchant_invitations"}


async def test_0036_adds_the_invitation_link_columns_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0033", database_url, tmp_path, request) as db:
        columns = columns_of("merchant_invitations")
        before, after = await up_down_up(db, "0035", "0036", TABLES, columns)
    assert after > before
