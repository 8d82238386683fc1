"""``POST /billing/checkout`` under an ``Idempotency-Key``: the same key and body answer the
first reply again (``Idempotent-Replayed: true``) and open no second order, even for twenty
concurrent duplicates (through a real server, and on PostgreSQL across two gateway processes);
the same key with another body is refused, 409, and opens nothing."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import FundingOrder, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import gateway_processes

_O = table_of(FundingOrder)
BODY = {"pack_id": "pack_pro"}
RACERS = 20


async def _orders(db: Database, merchant: MerchantKey) -> list[Any]:
    async with db.read() as conn:
        found = await conn.execute(select(_O).where(_O.c.merchant_id == merchant.merchant_id))
        return list(found.all())


async def _race(roots: list[str], merchant: MerchantKey) -> list[httpx.Response]:
    """``RACERS`` identical keyed checkouts at once, spread over the servers at ``roots``."""
    headers = {**merchant.headers, "Idempotency-Key": "checkout-1"}
    clients = [local_client(base_url=root, timeout=60) for root in roots]
    try:
        return list(
            await asyncio.gather(
                *(
                    clients[i % len(clients)].post("/billing/checkout", json=BODY, headers=headers)
                    for i in range(RACERS)
                )
            )
        )
    finally:
        for client in clients:
            await client.aclose()


async def _one_order(db: Database, merchant: MerchantKey, replies: list[httpx.Response]) -> None:
    assert {r.status_code for r in replies} == {201}, [r.text for r in replies]
    [order] = await _orders(db, merchant)
    assert {r.json()["data"]["order_id"] for r in replies} == {order.id}
    assert {r.json()["data"]["checkout_url"] for r in replies} == {order.checkout_url}
    replayed = [r for r in replies if r.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == RACERS - 1


@pytest.mark.both_stores
@pytest.mark.xdist_group("concurrency")
async def test_twenty_concurrent_duplicates_open_one_order(
    db: Database, make_merchant: MakeMerchant, live_url: str
) -> None:
    merchant = await make_merchant("staging")
    await _one_order(db, merchant, await _race([live_url], merchant))


@pytest.mark.both_stores
@pytest.mark.xdist_group("concurrency")
async def test_duplicates_across_two_gateway_processes_open_one_order(
    db: Database, settings: Settings, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    if db.is_sqlite:
        pytest.skip("several gateway processes share PostgreSQL, not an embedded file")
    merchant = await make_merchant("staging")
    async with gateway_processes(settings, tmp_path, 2) as roots:
        replies = await _race(roots, merchant)
    await _one_order(db, merchant, replies)


@pytest.mark.both_stores
async def test_the_same_key_with_another_body_is_refused_and_opens_nothing(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    headers = {**merchant.headers, "Idempotency-Key": "checkout-2"}
    first = await client.post("/billing/checkout", json=BODY, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/billing/checkout", json=BODY, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["data"] == first.json()["data"]
    other = await client.post("/billing/checkout", json={"amount_cents": 2_500}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (409, 4003), other.text
    assert [o.id for o in await _orders(db, merchant)] == [first.json()["data"]["order_id"]]
    # Another key is another checkout; none at all is one each time, as before.
    fresh = {**merchant.headers, "Idempotency-Key": "checkout-3"}
    assert (await client.post("/billing/checkout", json=BODY, headers=fresh)).status_code == 201
    assert len(await _orders(db, merchant)) == 2
