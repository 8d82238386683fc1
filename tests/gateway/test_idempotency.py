"""Stripe's idempotency rules, under real concurrent HTTP requests."""

import asyncio

import httpx

from gateway.store.db import Database
from tests.conftest import MakeMerchant, merchant_balance, unbalanced_wallets

SEND = {"platform": "chatgpt", "amount_cents": 250, "recipient_email": "idem@example.com"}


async def test_concurrent_duplicates_debit_once_and_reply_identically(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    headers = {**merchant.headers, "Idempotency-Key": "order-42"}
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(http.post("/topup/send", json=SEND, headers=headers) for _ in range(200))
        )
    assert {r.status_code for r in replies} == {200}
    assert len({r.content for r in replies}) == 1  # byte-identical, timestamp included
    assert replies[0].json()["code"] == 1001
    assert await merchant_balance(db, merchant) == 100_000 - 250
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in replies) == 199
    assert await unbalanced_wallets(db) == []


async def test_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    headers = {**merchant.headers, "Idempotency-Key": "k-1"}
    first = await client.post("/topup/send", json=SEND, headers=headers)
    assert first.json()["code"] == 1001
    other = await client.post("/topup/send", json={**SEND, "amount_cents": 251}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (409, 4003)
    assert await merchant_balance(db, merchant) == 100_000 - 250
    # The same body is still answered with the first reply; key order does not matter.
    reordered = {k: SEND[k] for k in reversed(list(SEND))}
    again = await client.post("/topup/send", json=reordered, headers=headers)
    assert again.content == first.content


async def test_keys_are_per_merchant_and_env(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    a, b = await make_merchant(), await make_merchant()
    one = await client.post(
        "/topup/send", json=SEND, headers={**a.headers, "Idempotency-Key": "shared"}
    )
    two = await client.post(
        "/topup/send", json=SEND, headers={**b.headers, "Idempotency-Key": "shared"}
    )
    assert one.json()["transaction_id"] != two.json()["transaction_id"]


async def test_a_refusal_is_replayed_too(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant(balance_cents=100)
    headers = {**merchant.headers, "Idempotency-Key": "poor"}
    first = await client.post("/topup/send", json=SEND, headers=headers)
    assert first.json()["code"] == 4001
    await client.post("/sandbox/fund", json={"amount_cents": 1_000}, headers=merchant.headers)
    again = await client.post("/topup/send", json=SEND, headers=headers)
    assert again.content == first.content
    assert await merchant_balance(db, merchant) == 1_100


async def test_invalid_idempotency_key_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    headers = {**merchant.headers, "Idempotency-Key": "x" * 256}
    reply = await client.post("/topup/send", json=SEND, headers=headers)
    assert (reply.status_code, reply.json()["code"]) == (422, 4006)
    assert await merchant_balance(db, merchant) == 100_000
