"""A send held for approval is counted in its budgets as in its key's windows, and a denied one
gives back to both, on both stores; a charge by an app draws on its consent's budgets too."""

import httpx

from gateway.store.engine import Database
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import spend_rows


async def test_a_denied_send_gives_back_to_its_budget(
    db: Database, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    windows = {
        "limits": [{"amount_cents": 500, "interval": "daily"}],
        "per_recipient_limit": {"amount_cents": 500, "interval": "monthly"},
    }
    made = await client.post(
        "/budgets", json={"name": "fleet", "windows": windows}, headers=owner.headers
    )
    budget = made.json()["data"]["id"]
    policy = {
        "limits": [{"amount_cents": 1_000, "interval": "daily"}],
        "approval_above_cents": 100,
        "budgets": [budget],
    }
    agent = await client.post("/keys", json={"policy": policy}, headers=owner.headers)
    agent_key, agent_id = agent.json()["data"]["key"], agent.json()["data"]["id"]
    body = {"platform": "claude", "amount_cents": 400, "recipient_email": "ada@example.com"}
    held = await client.post(
        "/topup/send", json=body, headers={"Authorization": f"Bearer {agent_key}"}
    )
    assert held.json()["code"] == 1006, held.text
    assert sorted(s for s, _ in (await spend_rows(db, budget)).values()) == [400, 400]
    assert [s for s, _ in (await spend_rows(db, agent_id)).values()] == [400]

    txn = held.json()["transaction_id"]
    denied = await client.post(f"/topup/{txn}/deny", headers=owner.headers)
    assert denied.json()["status"] == "denied", denied.text
    assert sorted(s for s, _ in (await spend_rows(db, budget)).values()) == [0, 0]
    assert [s for s, _ in (await spend_rows(db, agent_id)).values()] == [0]
