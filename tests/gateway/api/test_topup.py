import json
import re

import httpx
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import Event
from tests.fixtures.merchants import MakeMerchant, merchant_balance, unbalanced_wallets
from tests.fixtures.webhooks import events_of as payloads_of

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
    assert re.fullmatch(r"ATU-TEST(-[2-9A-Z]{4}){3}", body["data"]["voucher_code"])
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
        "held_cents": 0,
        "currency": "USD",
        "low_balance_threshold_cents": 0,
        "subscription": None,
        "balance": 980.0,
    }


async def test_fail_recipient_fails_and_refunds(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    reply = await client.post(
        "/topup/send",
        json={**SEND, "recipient_email": "agent+fail@example.com"},
        headers=merchant.headers,
    )
    assert reply.status_code == 402
    body = reply.json()
    assert (body["success"], body["code"], body["status"]) == (False, 4004, "failed")
    assert body["data"]["voucher_code"] is None
    assert await merchant_balance(db, merchant) == 100_000
    detail = (await client.get(f"/topup/{body['transaction_id']}", headers=merchant.headers)).json()
    assert detail["data"]["status"] == "failed"
    assert await events_of(db, merchant.merchant_id) == ["topup.failed"]
    assert await unbalanced_wallets(db) == []


async def test_pending_recipient_waits_until_cancelled_then_refunds(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    reply = await client.post(
        "/topup/send",
        json={**SEND, "recipient_email": "agent+pending@example.com"},
        headers=merchant.headers,
    )
    assert reply.status_code == 202
    body = reply.json()
    assert (body["success"], body["code"], body["status"]) == (True, 1002, "pending")
    txn = body["transaction_id"]
    assert await merchant_balance(db, merchant) == 99_000
    assert await events_of(db, merchant.merchant_id) == []

    cancelled = await client.post(f"/topup/{txn}/cancel", headers=merchant.headers)
    assert cancelled.status_code == 200
    assert (cancelled.json()["code"], cancelled.json()["status"]) == (1003, "cancelled")
    assert await merchant_balance(db, merchant) == 100_000
    assert await events_of(db, merchant.merchant_id) == ["topup.cancelled"]

    again = await client.post(f"/topup/{txn}/cancel", headers=merchant.headers)
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["status"]) == (4005, "cancelled")
    assert await merchant_balance(db, merchant) == 100_000
    assert await unbalanced_wallets(db) == []


async def test_delivered_topup_cannot_be_cancelled(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    txn = (await client.post("/topup/send", json=SEND, headers=merchant.headers)).json()[
        "transaction_id"
    ]
    reply = await client.post(f"/topup/{txn}/cancel", headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (409, 4005)
    assert await merchant_balance(db, merchant) == 99_000


async def test_magic_recipients_are_ordinary_in_live(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=5_000)
    reply = await client.post(
        "/topup/send",
        json={**SEND, "recipient_email": "agent+fail@example.com"},
        headers=merchant.headers,
    )
    assert reply.json()["status"] == "delivered"


async def test_get_and_list_with_cursor(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    sent = []
    for i in range(5):
        reply = await client.post(
            "/topup/send",
            json={**SEND, "amount_cents": 100 + i, "metadata": {"order": str(i)}},
            headers=merchant.headers,
        )
        sent.append(reply.json())
    detail = await client.get(f"/topup/{sent[0]['transaction_id']}", headers=merchant.headers)
    data = detail.json()["data"]
    assert data["voucher_code"] == sent[0]["data"]["voucher_code"]
    assert data["metadata"] == {"order": "0"}
    assert data["recipient_email"] == "user@example.com"

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/topup", params=params, headers=merchant.headers)).json()
        seen += [t["id"] for t in page["data"]]
        assert page["meta"]["limit"] == 2
        if not page["meta"]["has_more"]:
            assert page["meta"]["next_cursor"] is None
            break
        cursor = page["meta"]["next_cursor"]
    assert seen == [s["transaction_id"] for s in reversed(sent)]


async def test_insufficient_balance_changes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant(balance_cents=50)
    reply = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (402, 4001)
    assert reply.json()["transaction_id"] is None
    assert await merchant_balance(db, merchant) == 50
    listed = await client.get("/topup", headers=merchant.headers)
    assert listed.json()["data"] == []


async def test_balance_low_fires_once_per_crossing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant(balance_cents=3_000, low_balance_threshold_cents=2_000)
    for _ in range(3):  # 3000 → 2000 (not below) → 1000 (crossing) → 0 (still below)
        await client.post("/topup/send", json=SEND, headers=merchant.headers)
    types = await events_of(db, merchant.merchant_id)
    assert types.count("balance.low") == 1
    assert types.count("topup.delivered") == 3

    await client.post("/sandbox/fund", json={"amount_cents": 5_000}, headers=merchant.headers)
    await client.post(
        "/topup/send", json={**SEND, "amount_cents": 4_000}, headers=merchant.headers
    )  # 5000 → 1000: crosses again
    types = await events_of(db, merchant.merchant_id)
    assert (types.count("balance.low"), types.count("balance.recovered")) == (2, 1)
    lows = await payloads_of(db, merchant.merchant_id, "balance.low")
    assert [low["data"] for low in lows] == [
        {
            "balance_cents": 1_000,
            "threshold_cents": 2_000,
            "thresholds_cents": [2_000],
            "low_balance_threshold_cents": 2_000,
            "currency": "USD",
        }
    ] * 2
    assert all(low["env"] == "staging" and RFC3339.fullmatch(low["created"]) for low in lows)


async def test_a_failed_send_is_no_crossing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """Debited and refunded at once: the balance ends where it began, so no ``balance.low``."""
    merchant = await make_merchant(balance_cents=1_500, low_balance_threshold_cents=2_000)
    reply = await client.post(
        "/topup/send",
        json={**SEND, "recipient_email": "x+fail@example.com"},
        headers=merchant.headers,
    )
    assert reply.json()["status"] == "failed"
    assert await merchant_balance(db, merchant) == 1_500
    assert (await events_of(db, merchant.merchant_id)) == ["topup.failed"]


async def test_events_are_written_with_the_change(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    reply = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(Event.payload).where(Event.merchant_id == merchant.merchant_id)
            )
        ).one()
    payload = json.loads(row.payload)
    assert payload["type"] == "topup.delivered"
    assert payload["id"].startswith("evt_")
    assert payload["env"] == "staging"
    assert RFC3339.fullmatch(payload["created"])
    assert payload["data"]["transaction_id"] == reply.json()["transaction_id"]
    assert payload["data"]["amount_cents"] == 1000
    assert "voucher_code" not in payload["data"]


async def events_of(db: Database, merchant_id: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(Event.type).where(Event.merchant_id == merchant_id).order_by(Event.id)
        )
        return [r.type for r in rows]


async def test_the_send_reply_names_whose_balance_each_figure_is(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    """``new_balance_cents`` is the recipient's; ``wallet_balance_cents`` the merchant's own
    wallet after the send, as ``GET /balance`` then says it: debited when delivered or waiting,
    untouched when it failed at once."""
    merchant = await make_merchant()
    start = (await client.get("/balance", headers=merchant.headers)).json()["data"]
    for email, amount, taken, status in (
        ("w@example.com", 1000, 1000, 200),
        ("w+fail@example.com", 700, 0, 402),
        ("w+pending@example.com", 300, 300, 202),
        ("w@example.com", 250, 250, 200),
    ):
        reply = await client.post(
            "/topup/send",
            json={**SEND, "recipient_email": email, "amount_cents": amount},
            headers=merchant.headers,
        )
        assert reply.status_code == status, reply.text
        data = reply.json()["data"]
        now = (await client.get("/balance", headers=merchant.headers)).json()["data"]
        assert data["wallet_balance_cents"] == now["balance_cents"]
        assert start["balance_cents"] - now["balance_cents"] == taken
        start = now
    assert data["new_balance_cents"] == 1250  # the recipient's two deliveries
