"""Migration 0073: a rail's level alert (``treasury_floats.low_at``, ``low_told_at``) and each
rail's last reconciliation (``treasury_checks``), as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"treasury_floats", "treasury_checks"}


async def test_0073_adds_the_level_alert_and_the_reconciliations_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0072", database_url, tmp_path, request) as db:
        look = columns_of("treasury_floats")
        before, after = await up_down_up(db, "0072", "0073", TABLES, look)
    assert "low_at" not in before and "low_told_at" not in before
    assert {"low_at", "low_told_at"} <= set(after)
