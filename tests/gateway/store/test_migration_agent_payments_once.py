"""Migration 0057: an agent's order keeps the digest of the credential that claimed it; and
back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"funding_orders"}


def _shape(conn: Connection) -> bool:
    return "credential_digest" in {c["name"] for c in inspect(conn).get_columns("funding_orders")}


async def test_0057_adds_the_credential_digest_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0056", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0056", "0057", TABLES, _shape)
    assert (before, after) == (False, True)
