"""``GET /keys/self``: any key reads its own policy, spend, what remains and when each window
resets (a rolling one: when its oldest spend frees), so an agent can plan a send before it makes
it."""

from datetime import UTC, datetime, timedelta

import httpx

from gateway.store.engine import Database
from gateway.values.clock import rfc3339, utcnow
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy

FIVE_HOURS = timedelta(hours=5)


async def test_a_key_reads_its_own_limits(
    db: Database, make_merchant: MakeMerchant, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    policy = {
        "scopes": ["topup:send"],  # no topup:read, no keys: reading itself needs neither
        "limits": [
            {"amount_cents": 5_000, "interval": "daily"},
            {"amount_cents": 9_000, "interval": "all_time"},
            {"amount_cents": 3_000, "interval": "rolling", "hours": 5},
        ],
        "per_recipient_limit": {"amount_cents": 2_000, "interval": "weekly"},
        "soft_limit_percent": 20,
    }
    await set_policy(db, merchant.key_id, policy)
    body = {"platform": "claude", "amount_cents": 1_200, "recipient_email": "ann@example.com"}
    before = utcnow()
    sent = await client.post("/topup/send", json=body, headers=merchant.headers)
    assert sent.json()["code"] == 1001
    # The minute the send was counted in, five hours on.
    frees = {rfc3339(at.replace(second=0, microsecond=0) + FIVE_HOURS) for at in (before, utcnow())}

    reply = await client.get("/keys/self", headers=merchant.headers)
    assert reply.status_code == 200
    data = reply.json()["data"]
    today = utcnow()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    assert data["key_id"] == merchant.key_id
    assert data["legacy"] is False
    assert data["soft_limit_reached"] is True  # 1,200 of 5,000 is past 20%
    assert data["policy"]["per_recipient_limit"] == {"amount_cents": 2_000, "interval": "weekly"}
    rolling = data["windows"].pop()
    assert rolling.pop("frees_at") in frees
    assert rolling == {
        "interval": "rolling",
        "hours": 5,
        "limit_cents": 3_000,
        "spent_cents": 1_200,
        "remaining_cents": 1_800,
        "resets_at": None,
    }
    assert data["windows"] == [
        {
            "interval": "daily",
            "hours": None,
            "limit_cents": 5_000,
            "spent_cents": 1_200,
            "remaining_cents": 3_800,
            "resets_at": rfc3339(midnight),
            "frees_at": None,
        },
        {
            "interval": "all_time",
            "hours": None,
            "limit_cents": 9_000,
            "spent_cents": 1_200,
            "remaining_cents": 7_800,
            "resets_at": None,
            "frees_at": None,
        },
    ]
    # The same key cannot read others' keys or its balance: its scopes stand.
    assert (await client.get("/keys", headers=merchant.headers)).json()["code"] == 2301
    assert (await client.get("/balance", headers=merchant.headers)).json()["code"] == 2301


async def test_a_key_made_before_policies_reads_as_unlimited(
    make_merchant: MakeMerchant, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant()
    data = (await client.get("/keys/self", headers=merchant.headers)).json()["data"]
    assert data["legacy"] is True
    assert data["windows"] == []
    assert set(data["policy"]["scopes"]) == {
        "topup:send", "topup:read", "webhooks", "billing", "keys", "approvals", "fulfilment",
        "billing:card", "payments:send",
    }  # fmt: skip
