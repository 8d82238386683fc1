"""Migration 0072: who pays a merchant's payments to sellers per rail (``payment_funding``), who
paid each payment (``seller_payments.funded_by``, the wallet for every payment before), and the
operator's treasury (``treasury_floats``, ``treasury_entries``), as the models describe them;
and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import columns_of, database_at, up_down_up

TABLES = {"payment_funding", "seller_payments", "treasury_floats", "treasury_entries"}


async def test_0072_adds_the_funding_choice_who_paid_and_the_treasury_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0071", database_url, tmp_path, request) as db:
        look = columns_of("seller_payments")
        before, after = await up_down_up(db, "0071", "0072", TABLES, look)
    assert "funded_by" not in before
    assert "funded_by" in after
