"""Packs, redemption, the funding history and the merchant's ledger, over HTTP."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.store.engine import Database
from gateway.store.models import RedemptionCode, table_of
from gateway.values.clock import utcnow
from keys import hash_code
from tests.fixtures.billing import insert_orders, order_row
from tests.fixtures.core import TEST_PEPPER, local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.webhooks import events_of


async def mint_codes(admin: httpx.AsyncClient, **body: Any) -> list[str]:
    reply = await admin.post("/redemption-codes", json={"count": 1, "amount_cents": 700, **body})
    assert reply.status_code == 201, reply.text
    codes: list[str] = reply.json()["data"]["codes"]
    return codes


async def balance(client: httpx.AsyncClient, merchant: MerchantKey) -> int:
    reply = await client.get("/balance", headers=merchant.headers)
    value: int = reply.json()["data"]["balance_cents"]
    return value


async def test_packs_are_seeded_and_not_captured_by_topup_lookup(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    reply = await client.get("/topup/packs", headers=merchant.headers)
    assert reply.status_code == 200
    body = reply.json()
    assert body["code"] == 1000
    by_id = {p["id"]: p for p in body["data"]}
    assert by_id["pack_starter"] == {
        "id": "pack_starter",
        "name": "Starter",
        "price_cents": 500,
        "currency": "USD",
        "credits": 5000,
        "credit_cents": 500,
        "popular": False,
        "price": 5.0,
    }
    assert by_id["pack_pro"]["credit_cents"] == 2500
    assert by_id["pack_pro"]["popular"] is True
    assert by_id["pack_business"]["price_cents"] == 5000
    assert by_id["pack_business"]["credit_cents"] == 7000


async def test_packs_need_a_key(client: httpx.AsyncClient) -> None:
    reply = await client.get("/topup/packs")
    assert reply.status_code == 401
    assert reply.json()["code"] == 2001


async def test_redeem_credits_once_with_ledger_and_event(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("live")
    [code] = await mint_codes(admin_client, env="live", name="launch")
    reply = await billing_client.post(
        "/billing/redeem", json={"code": code.lower()}, headers=merchant.headers
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert data["amount_cents"] == 700
    assert data["balance_cents"] == 700
    assert data["env"] == "live"
    assert await balance(billing_client, merchant) == 700

    again = await billing_client.post(
        "/billing/redeem", json={"code": code}, headers=merchant.headers
    )
    assert again.status_code == 409
    assert again.json()["code"] == 4111
    assert await balance(billing_client, merchant) == 700

    [event] = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert event["env"] == "live"
    assert event["data"]["amount_cents"] == 700
    assert event["data"]["source"] == "redemption"
    assert event["data"]["reference"] == data["order_id"]

    ledger = await billing_client.get("/billing/transactions", headers=merchant.headers)
    [entry] = ledger.json()["data"]
    assert entry["type"] == "redemption"
    assert entry["amount_cents"] == 700
    assert entry["reference"] == data["order_id"]

    history = await billing_client.get("/billing/history", headers=merchant.headers)
    [item] = history.json()["data"]
    assert item["id"] == data["order_id"]
    assert item["kind"] == "redemption"
    assert item["status"] == "completed"
    assert item["credit_cents"] == 700
    assert item["amount_paid_cents"] == 0
    await assert_ledger_balanced(db)


async def test_redeem_refusals_each_have_their_code(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("staging")
    start = await balance(billing_client, merchant)
    [live_code] = await mint_codes(admin_client, env="live")
    [expiring] = await mint_codes(admin_client, env="staging", expires_at="2099-01-01T00:00:00Z")

    async def redeem(code: Any) -> httpx.Response:
        return await billing_client.post(
            "/billing/redeem", json={"code": code}, headers=merchant.headers
        )

    wrong_env = await redeem(live_code)
    assert (wrong_env.status_code, wrong_env.json()["code"]) == (403, 4113)
    unknown = await redeem("RDM-2222-3333-4444-5555")
    assert (unknown.status_code, unknown.json()["code"]) == (404, 4110)
    assert (await redeem(12345)).json()["code"] == 3001
    assert (await redeem("")).json()["code"] == 3001

    # Time passes: the expiry is now.
    r = table_of(RedemptionCode)
    async with db.transaction() as conn:
        await conn.execute(
            update(r)
            .where(r.c.code_hash == hash_code(expiring, TEST_PEPPER.encode()))
            .values(expires_at=utcnow())
        )
    expired = await redeem(expiring)
    assert (expired.status_code, expired.json()["code"]) == (410, 4112)
    assert await balance(billing_client, merchant) == start


@pytest.mark.both_stores
async def test_fifty_concurrent_redemptions_of_one_code_credit_once(
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    billing_live_url: str,
    db: Database,
) -> None:
    merchants = [await make_merchant("live") for _ in range(5)]
    [code] = await mint_codes(admin_client, env="live", amount_cents=1234)
    async with local_client(
        base_url=f"{billing_live_url}/api/public/v1",
        timeout=30,
        limits=httpx.Limits(max_connections=50),
    ) as http:
        replies = await asyncio.gather(
            *(
                http.post(
                    "/billing/redeem",
                    json={"code": code},
                    headers=merchants[i % len(merchants)].headers,
                )
                for i in range(50)
            )
        )
        statuses = sorted(r.status_code for r in replies)
        assert statuses == [200] + [409] * 49, statuses
        assert {r.json()["code"] for r in replies if r.status_code == 409} == {4111}
        balances = [
            (await http.get("/balance", headers=m.headers)).json()["data"]["balance_cents"]
            for m in merchants
        ]
    assert sorted(balances) == [0, 0, 0, 0, 1234]
    await assert_ledger_balanced(db)


async def test_history_pages_are_exact_at_the_boundaries(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    for count in (0, 20, 21, 40):
        merchant = await make_merchant("staging")
        await _orders(db, merchant, count)
        pages = []
        for page in (1, 2, 3):
            reply = await client.get(
                "/billing/history", params={"page": page}, headers=merchant.headers
            )
            assert reply.status_code == 200
            body = reply.json()
            assert body["meta"] == {"current_page": page, "per_page": 20, "total": count}
            pages.append([item["id"] for item in body["data"]])
        expected = [min(20, count), min(20, max(0, count - 20)), max(0, count - 40)]
        assert [len(p) for p in pages] == expected, count
        ids = [i for p in pages for i in p]
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == count


async def test_history_default_page_and_bad_queries(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    reply = await client.get("/billing/history", headers=merchant.headers)
    assert reply.json()["meta"]["current_page"] == 1
    for bad in ({"page": "0"}, {"page": "x"}, {"page": "1.5"}, {"pages": "1"}):
        reply = await client.get("/billing/history", params=bad, headers=merchant.headers)
        assert (reply.status_code, reply.json()["code"]) == (422, 3006), bad


async def test_transactions_page_with_limit_and_offset(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")  # starts with its initial funding entry
    for amount in (100, 200, 300):
        await client.post("/sandbox/fund", json={"amount_cents": amount}, headers=merchant.headers)
    first = await client.get("/billing/transactions", params={"limit": 2}, headers=merchant.headers)
    body = first.json()
    assert [e["amount_cents"] for e in body["data"]] == [300, 200]
    last = str(body["data"][-1]["id"])
    assert body["meta"] == {
        "limit": 2,
        "offset": 0,
        "total": 4,
        "has_more": True,
        "next_cursor": last,  # where a walk by key goes on from
    }
    rest = await client.get(
        "/billing/transactions", params={"limit": 2, "offset": 2}, headers=merchant.headers
    )
    assert [e["type"] for e in rest.json()["data"]] == ["sandbox_fund", "initial_funding"]
    assert rest.json()["meta"]["has_more"] is False
    assert rest.json()["meta"]["next_cursor"] is None
    after = await client.get(
        "/billing/transactions", params={"limit": 2, "cursor": last}, headers=merchant.headers
    )
    assert after.json()["data"] == rest.json()["data"]  # the same page, by key
    assert after.json()["meta"] == {
        "limit": 2,
        "offset": None,
        "total": 4,
        "has_more": False,
        "next_cursor": None,
    }
    bad = await client.get(
        "/billing/transactions", params={"limit": 1000}, headers=merchant.headers
    )
    assert bad.json()["code"] == 3006


async def _ledger(client: httpx.AsyncClient, merchant: MerchantKey, **params: Any) -> Any:
    reply = await client.get("/billing/transactions", params=params, headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_walk_by_cursor_reads_every_entry_once_while_new_ones_arrive(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging")  # starts with its initial funding entry
    for amount in range(1, 8):
        await client.post("/sandbox/fund", json={"amount_cents": amount}, headers=merchant.headers)
    whole = await _ledger(client, merchant, limit=100)
    expected = [e["id"] for e in whole["data"]]
    assert len(expected) == whole["meta"]["total"] == 8
    seen: list[int] = []
    page = await _ledger(client, merchant, limit=3)
    arrived = 0
    while True:
        seen += [e["id"] for e in page["data"]]
        assert page["meta"]["total"] == 8 + arrived  # the wallet's count, new entries included
        if not page["meta"]["has_more"]:
            assert page["meta"]["next_cursor"] is None
            break
        # Entries made between pages are newer than the walk's cursor: a walk by offset would
        # read some entry twice, a walk by key never does.
        for _ in range(2):
            fund = {"amount_cents": 50}
            await client.post("/sandbox/fund", json=fund, headers=merchant.headers)
            arrived += 1
        page = await _ledger(client, merchant, limit=3, cursor=page["meta"]["next_cursor"])
        assert page["meta"]["offset"] is None
    assert seen == expected  # each once, newest first
    assert arrived == 4
    await assert_ledger_balanced(db)


async def test_a_bad_ledger_cursor_gets_the_envelope(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    for cursor in ("abc", "0", "-1", "1.5", "01", "9" * 19, "", "txn_0123"):
        reply = await client.get(
            "/billing/transactions", params={"cursor": cursor}, headers=merchant.headers
        )
        assert (reply.status_code, reply.json()["code"]) == (422, 3005), cursor
        assert reply.json()["success"] is False
    for offset in ("0", "5"):  # one way of paging at a time, even from the start
        reply = await client.get(
            "/billing/transactions",
            params={"cursor": "12", "offset": offset},
            headers=merchant.headers,
        )
        assert (reply.status_code, reply.json()["code"]) == (422, 3006), offset
    # A cursor past every entry, or from another wallet's ledger, reads this wallet's only.
    far = await _ledger(client, merchant, cursor="9" * 18)
    assert [e["type"] for e in far["data"]] == ["initial_funding"]
    none = await _ledger(client, merchant, cursor="1")
    assert none["data"] == [] and none["meta"]["has_more"] is False


async def test_the_ledgers_total_follows_every_way_money_moves(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """Sends delivered, failed at once and cancelled (refunded), staging funding: the total is
    the wallet's stored count, which moves with its balance."""
    merchant = await make_merchant("staging")
    sends = {"ann@example.com": 1001, "bob+fail@example.com": 4004, "cy+pending@example.com": 1002}
    for email, code in sends.items():
        body = {"platform": "claude", "amount_cents": 100, "recipient_email": email}
        sent = await client.post("/topup/send", json=body, headers=merchant.headers)
        assert sent.json()["code"] == code, sent.text
        if code == 1002:
            txn = sent.json()["transaction_id"]
            cancelled = await client.post(f"/topup/{txn}/cancel", headers=merchant.headers)
            assert cancelled.json()["code"] == 1003
    await client.post("/sandbox/fund", json={"amount_cents": 10}, headers=merchant.headers)
    listed = await _ledger(client, merchant, limit=100)
    kinds = [e["type"] for e in listed["data"]]
    assert kinds == [  # newest first
        "sandbox_fund",
        "topup_refund",  # cancelled
        "topup_debit",  # pending
        "topup_refund",  # failed at once
        "topup_debit",
        "topup_debit",  # delivered
        "initial_funding",
    ]
    assert listed["meta"]["total"] == len(kinds) == 7
    await assert_ledger_balanced(db)


async def _orders(db: Database, merchant: MerchantKey, count: int) -> None:
    """Orders straight into the store: the pagination is what is under test."""
    statuses = ("completed", "pending", "failed")
    rows = [
        order_row(
            merchant.merchant_id,
            env=merchant.env,
            status=statuses[i % 3],
            provider="sandbox",
            pack_id="pack_starter",
            pack_name="Starter",
        )
        for i in range(count)
    ]
    async with db.transaction() as conn:
        await insert_orders(conn, rows)
