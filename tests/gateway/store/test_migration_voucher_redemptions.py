"""Migration 0041: where a merchant's users redeem its voucher, per environment, as the models
describe it; and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"voucher_redemptions"}


def _look(conn: Connection) -> set[str]:
    inspected = inspect(conn)
    if "voucher_redemptions" not in inspected.get_table_names():
        return set()
    return {c["name"] for c in inspected.get_columns("voucher_redemptions")}


async def test_0041_adds_the_voucher_redemptions_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0040", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0040", "0041", TABLES, _look)
    assert before == set()
    assert after == {"merchant_id", "env", "redeem_url", "redeem_instructions", "updated_at"}
