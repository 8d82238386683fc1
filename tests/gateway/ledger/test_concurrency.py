"""No overspend under real concurrency: the conditional debit is the only guard needed."""

import asyncio
from collections import Counter

import httpx

from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, merchant_balance, unbalanced_wallets

# Sends at once, three times what the balance covers: more than the server's pool of store
# connections, so they queue for it and race for the same wallet row (a read-then-write guard
# would let several through on one balance); the rest, refused, are as many again twice over.
SENDS = 90
WORTH = SENDS // 3


async def test_concurrent_sends_three_times_what_the_balance_covers(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live", balance_cents=WORTH * 100)
    body = {"platform": "claude", "amount_cents": 100, "recipient_email": "race@example.com"}
    limits = httpx.Limits(max_connections=SENDS)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(http.post("/topup/send", json=body, headers=merchant.headers) for _ in range(SENDS))
        )
    codes = Counter(r.json()["code"] for r in replies)
    assert codes == {1001: WORTH, 4001: SENDS - WORTH}
    assert {r.status_code for r in replies if r.json()["code"] == 4001} == {402}
    assert await merchant_balance(db, merchant) == 0
    assert await unbalanced_wallets(db) == []
    async with local_client(base_url=live_url) as http:
        listed = await http.get("/topup", params={"limit": "100"}, headers=merchant.headers)
    assert len(listed.json()["data"]) == WORTH
    assert listed.json()["meta"]["has_more"] is False
