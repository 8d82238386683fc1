"""A budget shared by several keys holds under real concurrent requests: never a cent over, on
either store, and on PostgreSQL across two gateway processes; each key's own limit holds all
the same.

90 sends of 10 cents from 6 keys race for one shared daily budget of $3.00, each key's own
daily limit 60 cents (together $3.60, more than the budget): exactly 30 go through, no key past
its own 6, and every other send is refused by the budget (2350) or by its key (2304). The size
still proves it: the 90 are in flight together, three for every cent-slot the budget has, and
each key sends 15 against a limit of 6, so a budget or a key limit checked before another
send's debit commits lets more than 30 (or more than 6 of one key) through.
"""

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from gateway.budgets import service
from gateway.budgets.schemas import BudgetCreate
from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.policies import set_policy, spend_rows, two_gateways

KEYS, SENDS, AMOUNT = 6, 90, 10
BUDGET, KEY_LIMIT, BALANCE = 300, 60, 100_000


async def _fleet(db: Database, make_merchant: MakeMerchant) -> tuple[list[MerchantKey], str]:
    """A merchant with ``KEYS`` keys, each drawing on one shared daily budget of ``BUDGET``."""
    first = await make_merchant(balance_cents=BALANCE)
    keys = [first]
    for _ in range(KEYS - 1):
        keys.append(await make_merchant(merchant_id=first.merchant_id))
    windows = {"limits": [{"amount_cents": BUDGET, "interval": "daily"}]}
    async with db.transaction() as conn:
        made = await service.create(
            conn,
            service.Owner(first.merchant_id, first.env),
            BudgetCreate.model_validate({"name": "fleet", "windows": windows}),
        )
    for key in keys:
        policy = {
            "limits": [{"amount_cents": KEY_LIMIT, "interval": "daily"}],
            "budgets": [made.id],
        }
        await set_policy(db, key.key_id, policy)
    return keys, made.id


async def _race(roots: list[str], keys: list[MerchantKey]) -> list[tuple[str, dict[str, Any]]]:
    """``SENDS`` sends spread over ``keys`` and ``roots``, all in flight together; each reply
    with the key that sent it."""
    clients = [
        local_client(base_url=root, timeout=60, limits=httpx.Limits(max_connections=100))
        for root in roots
    ]

    async def send(i: int) -> tuple[str, dict[str, Any]]:
        key = keys[i % len(keys)]
        body = {
            "platform": "claude",
            "amount_cents": AMOUNT,
            "recipient_email": f"agent-{uuid.uuid4().hex[:8]}@example.com",
        }
        reply = await clients[i % len(clients)].post("/topup/send", json=body, headers=key.headers)
        return key.key_id, reply.json()

    try:
        return await asyncio.gather(*(send(i) for i in range(SENDS)))
    finally:
        for client in clients:
            await client.aclose()


async def _check(
    db: Database, replies: list[tuple[str, dict[str, Any]]], keys: list[MerchantKey], budget: str
) -> None:
    codes = Counter(r["code"] for _, r in replies)
    assert set(codes) <= {1001, 2304, 2350}, codes
    assert codes[1001] == BUDGET // AMOUNT
    per_key = Counter(key_id for key_id, r in replies if r["code"] == 1001)
    assert max(per_key.values()) <= KEY_LIMIT // AMOUNT
    for _, reply in replies:
        if reply["code"] == 2350:
            assert reply["data"]["budget_id"] == budget
            assert reply["data"]["limit_cents"] == BUDGET
        elif reply["code"] == 2304:
            assert reply["data"]["limit_cents"] == KEY_LIMIT
    assert await merchant_balance(db, keys[0]) == BALANCE - BUDGET
    assert [spent for spent, _ in (await spend_rows(db, budget)).values()] == [BUDGET]
    for key in keys:
        own = [spent for spent, _ in (await spend_rows(db, key.key_id)).values()]
        # A key whose every send lost the race counted nothing, and has no row to say so.
        assert own == ([per_key[key.key_id] * AMOUNT] if per_key[key.key_id] else [])
    await assert_ledger_balanced(db)


async def test_a_shared_budget_admits_exactly_what_it_allows(
    db: Database, make_merchant: MakeMerchant, live_url: str
) -> None:
    keys, budget = await _fleet(db, make_merchant)
    replies = await _race([live_url], keys)
    await _check(db, replies, keys, budget)


async def test_a_shared_budget_holds_across_two_gateway_processes(
    db: Database, settings: Settings, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    keys, budget = await _fleet(db, make_merchant)
    async with two_gateways(db, settings, tmp_path) as roots:
        replies = await _race(roots, keys)
    await _check(db, replies, keys, budget)
