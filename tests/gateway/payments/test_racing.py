"""Payments to sellers racing for one $10.00 budget never pass it by a cent, on each store:
50 of 25 cents, through REST and MCP at once (real concurrent requests to a real server), and
on PostgreSQL across two gateway processes; exactly 40 are authorized, each debited once, and
every other is the budget's refusal, nothing written for it."""

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.budgets import service as budgets
from gateway.budgets.schemas import BudgetCreate
from gateway.store.db import Database
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.policies import gateway_process, set_policy, spend_rows
from tests.fixtures.seller_payments import payment_rows
from tests.fixtures.tally_payer import TallyPayer, challenge

PAYMENTS, AMOUNT, BUDGET, BALANCE = 50, 25, 1_000, 100_000
AUTHORIZED, BUDGET_REACHED = 1170, 2350
API = "/api/public/v1"


async def _budgeted(db: Database, make_merchant: MakeMerchant) -> tuple[MerchantKey, str]:
    """A merchant whose key pays sellers, drawing on a daily budget of ``BUDGET``."""
    merchant = await make_merchant(balance_cents=BALANCE)
    windows = {"limits": [{"amount_cents": BUDGET, "interval": "daily"}]}
    async with db.transaction() as conn:
        made = await budgets.create(
            conn,
            budgets.Owner(merchant.merchant_id, merchant.env),
            BudgetCreate.model_validate({"name": "sellers", "windows": windows}),
        )
    await set_policy(db, merchant.key_id, {"scopes": ["payments:send"], "budgets": [made.id]})
    return merchant, made.id


def _body(n: int) -> dict[str, Any]:
    return {"url": f"https://seller-{n % 7}.example/r/{n}", "challenge": challenge(AMOUNT)}


async def _race(roots: list[str], merchant: MerchantKey) -> list[int]:
    """``PAYMENTS`` payments spread over ``roots`` (each a gateway's root), every other one
    through MCP's ``pay_challenge``, all in flight together; each reply's code."""
    limits = httpx.Limits(max_connections=100)
    async with AsyncExitStack() as stack:
        rest = [
            await stack.enter_async_context(
                local_client(base_url=f"{root}{API}", timeout=60, limits=limits)
            )
            for root in roots
        ]
        sessions = [await stack.enter_async_context(mcp_http(root, merchant.key)) for root in roots]

        async def one(n: int) -> int:
            if n % 2:
                args = {**_body(n), "idempotency_key": f"race-{n}"}
                found = await envelope_of(sessions[n % len(sessions)], "pay_challenge", args)
                return found.code
            headers = {**merchant.headers, "Idempotency-Key": f"race-{n}"}
            reply = await rest[n % len(rest)].post("/payments", json=_body(n), headers=headers)
            return int(reply.json()["code"])

        return await asyncio.gather(*(one(n) for n in range(PAYMENTS)))


async def _held_to_the_budget(
    db: Database, merchant: MerchantKey, budget_id: str, codes: list[int]
) -> None:
    counted = Counter(codes)
    assert set(counted) <= {AUTHORIZED, BUDGET_REACHED}, counted
    assert counted[AUTHORIZED] == BUDGET // AMOUNT, counted
    rows = await payment_rows(db, merchant.merchant_id)
    assert len(rows) == BUDGET // AMOUNT
    assert {row.status for row in rows} == {"authorized"}
    assert await merchant_balance(db, merchant) == BALANCE - BUDGET
    assert [spent for spent, _ in (await spend_rows(db, budget_id)).values()] == [BUDGET]
    await assert_ledger_balanced(db)


@pytest.mark.xdist_group("concurrency")
async def test_payments_racing_through_rest_and_mcp_never_pass_the_budget(
    live_url: str, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant, budget_id = await _budgeted(db, make_merchant)
    codes = await _race([live_url.removesuffix(API)], merchant)
    await _held_to_the_budget(db, merchant, budget_id, codes)
    assert len(tally.makes) == BUDGET // AMOUNT  # a credential for each authorized, no other


@pytest.mark.xdist_group("concurrency")
async def test_payments_racing_across_two_gateway_processes_never_pass_the_budget(
    make_merchant: MakeMerchant, db: Database, settings: Settings, tmp_path: Path
) -> None:
    if db.is_sqlite:
        pytest.skip("several gateway processes share PostgreSQL, not an embedded file")
    merchant, budget_id = await _budgeted(db, make_merchant)
    paying = "tests.fixtures.paying_gateway"
    async with (
        gateway_process(settings, tmp_path, module=paying) as one,
        gateway_process(settings, tmp_path, module=paying) as two,
    ):
        codes = await _race([one.removesuffix(API), two.removesuffix(API)], merchant)
    await _held_to_the_budget(db, merchant, budget_id, codes)
