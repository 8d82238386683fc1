"""A budget's and a key's levels under real concurrency: each level a window's spend reaches is
told once, and the way back under the lowest once, whatever races, on both stores."""

import asyncio

from gateway.policies import thresholds
from gateway.store.db import Database
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
