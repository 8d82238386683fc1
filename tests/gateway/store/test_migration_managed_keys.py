"""Migration 0050: the consent a managed key belongs to, and the index that lets a consent
have one live key, as the models describe them; and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"api_keys"}


def _look(conn: Connection) -> tuple[bool, bool]:
    inspected = inspect(conn)
    columns = {c["name"] for c in inspected.get_columns("api_keys")}
    indexes = {i["name"] for i in inspected.get_indexes("api_keys")}
    return "managed_by" in columns, "uq_api_keys_managed_live" in indexes


async def test_0050_adds_the_managing_consent_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0049", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0049", "0050", TABLES, _look)
    assert before == (False, False)
    assert after == (True, True)
