"""A budget's and a key's levels under real concurrency: each level a window's spend reaches is
told once, and the way back a margin under the lowest once, whatever races, on both stores."""

import asyncio

import httpx

from gateway.policies import levels, thresholds
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import events_of

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "race@example.com"}
DAILY = [{"amount_cents": 1_000, "interval": "daily"}]


def _told(events: list[dict[str, object]]) -> list[int]:
    return sorted(p for e in events for p in e["data"]["crossed_percent"])  # type: ignore[index]


async def test_three_levels_up_and_back_tell_three_crossings_and_one_recovery(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    async with local_client(base_url=live_url, timeout=60) as http:
        for bad in ([50, 50], [1, 2, 3, 4, 5, 6], [0]):
            refused = await http.post(
                "/budgets",
                json={"name": "fleet", "windows": {"limits": DAILY}, "thresholds_percent": bad},
                headers=owner.headers,
            )
            assert (refused.status_code, refused.json()["code"]) == (422, 3001), bad
        made = await http.post(
            "/budgets",
            json={
                "name": "fleet",
                "windows": {"limits": DAILY},
                "thresholds_percent": [90, 50, 70],
            },
            headers=owner.headers,
        )
        assert made.json()["data"]["thresholds_percent"] == [50, 70, 90]
        budget = made.json()["data"]["id"]
        policy = {
            "limits": DAILY,
            "thresholds_percent": [70, 50, 90],
            "approval_above_cents": 0,  # every send held: a denial gives it back
            "budgets": [budget],
        }
        agent = await http.post("/keys", json={"policy": policy}, headers=owner.headers)
        assert agent.json()["data"]["policy"]["thresholds_percent"] == [50, 70, 90]
        agent_key, agent_id = agent.json()["data"]["key"], agent.json()["data"]["id"]
        bearer = {"Authorization": f"Bearer {agent_key}"}

        held = await asyncio.gather(
            *(http.post("/topup/send", json=SEND, headers=bearer) for _ in range(10))
        )
        assert {r.json()["code"] for r in held} == {1006}
        budget_told = await events_of(db, owner.merchant_id, "budget.threshold")
        key_told = await events_of(db, owner.merchant_id, "key.budget_threshold")
        assert _told(budget_told) == _told(key_told) == [50, 70, 90]
        assert {e["data"]["budget_id"] for e in budget_told} == {budget}
        assert {e["data"]["key_id"] for e in key_told} == {agent_id}

        denied = await asyncio.gather(
            *(
                http.post(f"/topup/{r.json()['transaction_id']}/deny", headers=owner.headers)
                for r in held
            )
        )
        assert {r.json()["status"] for r in denied} == {"denied"}
    # The give-backs made the recoveries due; the worker's job and a late sender race to write.
    who = thresholds.Alerting((agent_id, budget))
    await asyncio.gather(*(thresholds.alert(db, who, utcnow()) for _ in range(4)))
    (budget_back,) = await events_of(db, owner.merchant_id, "budget.recovered")
    (key_back,) = await events_of(db, owner.merchant_id, "key.budget_recovered")
    assert budget_back["data"]["budget_id"] == budget
    assert (budget_back["data"]["spent_cents"], budget_back["data"]["threshold_percent"]) == (0, 50)
    assert key_back["data"]["key_id"] == agent_id
    assert [d for d in await thresholds.alerts_due(db) if set(d.owners) & {agent_id, budget}] == []
    assert len(await events_of(db, owner.merchant_id, "budget.threshold")) == len(budget_told)


async def test_a_give_back_within_the_margin_under_a_level_does_not_re_arm_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """A key's level at 500 of 1,000: ten cents given back and sent again across it, five times,
    tell it once and no recovery (the margin is 50); a give-back past the margin recovers."""
    owner = await make_merchant(balance_cents=10_000)
    policy = {
        "limits": [{"amount_cents": 1_000, "interval": "daily"}],
        "thresholds_percent": [50],
        "approval_above_cents": 0,  # every send held: a denial gives it back
    }
    agent = await client.post("/keys", json={"policy": policy}, headers=owner.headers)
    agent_id = agent.json()["data"]["id"]
    bearer = {"Authorization": f"Bearer {agent.json()['data']['key']}"}
    who = thresholds.Alerting((agent_id,))

    async def send(cents: int) -> str:
        held = await client.post(
            "/topup/send", json={**SEND, "amount_cents": cents}, headers=bearer
        )
        assert held.json()["code"] == 1006, held.text
        await thresholds.alert(db, who, utcnow())
        return str(held.json()["transaction_id"])

    async def deny(txn: str) -> None:
        denied = await client.post(f"/topup/{txn}/deny", headers=owner.headers)
        assert denied.json()["status"] == "denied", denied.text
        await thresholds.alert(db, who, utcnow())

    most = await send(490)
    for _ in range(5):
        await deny(await send(10))  # 500, then 490: under the level, not past its margin
    assert len(await events_of(db, owner.merchant_id, "key.budget_threshold")) == 1
    assert await events_of(db, owner.merchant_id, "key.budget_recovered") == []
    assert levels.margin(500) == 50
    await deny(most)  # 0: past the margin
    assert len(await events_of(db, owner.merchant_id, "key.budget_recovered")) == 1
