import re

import httpx

from tests.conftest import MakeMerchant

SEND = {"platform": "claude", "amount_cents": 1000, "recipient_email": "user@example.com"}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


async def test_send_delivers_and_replies_with_the_envelope(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    email = f"u{merchant.merchant_id[-8:]}@Example.com"
    reply = await client.post(
        "/topup/send", json={**SEND, "recipient_email": email}, headers=merchant.headers
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is True
    assert body["code"] == 1001
    assert body["status"] == "delivered"
    assert body["transaction_id"].startswith("txn_")
    assert RFC3339.fullmatch(body["timestamp"])
    assert re.fullmatch(r"ATU-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", body["data"]["voucher_code"])
    assert body["data"]["platform"] == "claude"
    assert body["data"]["amount_cents"] == 1000
    assert body["data"]["new_balance_cents"] == 1000

    again = await client.post(
        "/topup/send", json={**SEND, "recipient_email": email.lower()}, headers=merchant.headers
    )
    assert again.json()["data"]["new_balance_cents"] == 2000

    balance = await client.get("/balance", headers=merchant.headers)
    assert balance.json()["data"] == {
        "env": "staging",
        "balance_cents": 100_000 - 2000,
        "currency": "USD",
        "low_balance_threshold_cents": 0,
    }
