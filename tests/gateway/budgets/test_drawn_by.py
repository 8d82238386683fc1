"""What draws on a budget: a key's or a connection's own policy, and a policy template that names
it (every key under the template draws on it). While one does the budget is listed as drawn by
it and cannot be deleted (409 ``2353``, nothing deleted); a budget nothing names is deleted. On
each store, through the REST API."""

from typing import Any

import httpx

from tests.fixtures.merchants import MakeMerchant, MerchantKey

DAILY = {"limits": [{"amount_cents": 300, "interval": "daily"}]}


async def _budget(client: httpx.AsyncClient, owner: MerchantKey) -> str:
    made = await client.post(
        "/budgets", json={"name": "fleet", "windows": DAILY}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    return str(made.json()["data"]["id"])


async def _template(client: httpx.AsyncClient, owner: MerchantKey, policy: dict[str, Any]) -> str:
    made = await client.post(
        "/policy-templates", json={"name": "agents", "policy": policy}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    return str(made.json()["data"]["id"])


async def test_a_budget_a_template_names_is_drawn_by_it_and_stays(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    budget = await _budget(client, owner)
    template = await _template(client, owner, {"budgets": [budget]})
    url = f"/budgets/{budget}"
    drawer = {"key_id": None, "name": "agents", "app_id": None, "template_id": template}
    assert (await client.get(url, headers=owner.headers)).json()["data"]["drawn_by"] == [drawer]

    refused = await client.delete(url, headers=owner.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, 2353), refused.text
    assert refused.json()["data"] == {"drawn_by": [drawer]}
    assert (await client.get(url, headers=owner.headers)).status_code == 200
    # A key under the template draws on the budget: it is held by it.
    key = await client.post("/keys", json={"policy": {"template": template}}, headers=owner.headers)
    assert key.status_code == 201, key.text
    body = {"platform": "claude", "amount_cents": 400, "recipient_email": "ada@example.com"}
    auth = {"Authorization": f"Bearer {key.json()['data']['key']}"}
    over = await client.post("/topup/send", json=body, headers=auth)
    assert over.json()["code"] == 2350, over.text

    # Once no template names it (nor key), it goes.
    await client.delete(f"/keys/{key.json()['data']['id']}", headers=owner.headers)
    patched = await client.patch(
        f"/policy-templates/{template}", json={"policy": {"budgets": []}}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text
    assert (await client.get(url, headers=owner.headers)).json()["data"]["drawn_by"] == []
    gone = await client.delete(url, headers=owner.headers)
    assert gone.status_code == 200, gone.text
    assert (await client.get(url, headers=owner.headers)).json()["code"] == 2352


async def test_a_budget_a_key_names_stays_and_one_named_by_nothing_goes(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    named, unnamed = await _budget(client, owner), await _budget(client, owner)
    key = await client.post("/keys", json={"policy": {"budgets": [named]}}, headers=owner.headers)
    assert key.status_code == 201, key.text
    refused = await client.delete(f"/budgets/{named}", headers=owner.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, 2353), refused.text
    assert [d["key_id"] for d in refused.json()["data"]["drawn_by"]] == [key.json()["data"]["id"]]
    gone = await client.delete(f"/budgets/{unnamed}", headers=owner.headers)
    assert gone.status_code == 200, gone.text
