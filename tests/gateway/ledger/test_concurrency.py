"""No overspend under real concurrency: the conditional debit is the only guard needed."""

import asyncio
from collections import Counter

import httpx

from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, merchant_balance, unbalanced_wallets


async def test_300_concurrent_sends_against_100_sends_worth(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    body = {"platform": "claude", "amount_cents": 100, "recipient_email": "race@example.com"}
    limits = httpx.Limits(max_connections=300)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(http.post("/topup/send", json=body, headers=merchant.headers) for _ in range(300))
        )
    codes = Counter(r.json()["code"] for r in replies)
    assert codes == {1001: 100, 4001: 200}
    assert {r.status_code for r in replies if r.json()["code"] == 4001} == {402}
    assert await merchant_balance(db, merchant) == 0
    assert await unbalanced_wallets(db) == []
    async with local_client(base_url=live_url) as http:
        listed = await http.get("/topup", params={"limit": "100"}, headers=merchant.headers)
    assert len(listed.json()["data"]) == 100
    assert listed.json()["meta"]["has_more"] is False
