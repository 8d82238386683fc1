"""Budgets at /budgets: made, listed and read with their spend and what draws on them, changed,
frozen and deleted, within the calling key's merchant and environment; a policy names only
budgets of its own merchant and environment, and no key loosens a budget that holds it."""

from typing import Any

import httpx

from tests.fixtures.merchants import MakeMerchant, MerchantKey

DAILY = {"limits": [{"amount_cents": 300, "interval": "daily"}]}


async def _budget(
    client: httpx.AsyncClient, caller: MerchantKey, windows: dict[str, Any] = DAILY
) -> dict[str, Any]:
    reply = await client.post(
        "/budgets", json={"name": " Fleet ", "windows": windows}, headers=caller.headers
    )
    assert reply.status_code == 201, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def _key(
    client: httpx.AsyncClient, caller: MerchantKey, policy: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        "/keys", json={"name": "agent", "policy": policy}, headers=caller.headers
    )


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _send(client: httpx.AsyncClient, key: str, cents: int, platform: str = "claude") -> Any:
    body = {"platform": platform, "amount_cents": cents, "recipient_email": "ada@example.com"}
    return (await client.post("/topup/send", json=body, headers=_auth(key))).json()


async def test_a_budget_is_made_read_listed_changed_and_deleted(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    made = await _budget(client, owner)
    assert made["name"] == "Fleet"
    assert made["frozen"] is False and made["drawn_by"] == []
    assert [(w["interval"], w["spent_cents"], w["remaining_cents"]) for w in made["spend"]] == [
        ("daily", 0, 300)
    ]
    url = f"/budgets/{made['id']}"
    assert (await client.get(url, headers=owner.headers)).json()["data"] == made
    listed = (await client.get("/budgets", headers=owner.headers)).json()["data"]
    assert [b["id"] for b in listed] == [made["id"]]

    weekly = {"limits": [{"amount_cents": 900, "interval": "weekly"}]}
    changed = await client.patch(url, json={"windows": weekly}, headers=owner.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["windows"]["limits"] == weekly["limits"]
    assert changed.json()["data"]["name"] == "Fleet"
    assert (await client.patch(url, json={"name": None}, headers=owner.headers)).json()[
        "code"
    ] == 3001

    gone = await client.delete(url, headers=owner.headers)
    assert (gone.status_code, gone.json()["code"]) == (200, 1005)
    missing = await client.get(url, headers=owner.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, 2352)


async def test_bad_budgets_are_refused_and_change_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    twice = {"limits": [{"amount_cents": 1, "interval": "daily"}] * 2}
    for body in (
        {"name": ""},
        {"name": "x", "windows": twice},
        {"name": "x", "windows": {"limits": [{"amount_cents": 0, "interval": "daily"}]}},
        {"name": "x", "windows": {"limits": [{"amount_cents": 1, "interval": "rolling"}]}},
        {
            "name": "x",
            "windows": {
                "per_platform_limit": {"amount_cents": 1, "interval": "rolling", "hours": 5}
            },
        },
        {"name": "x", "extra": 1},
    ):
        reply = await client.post("/budgets", json=body, headers=owner.headers)
        assert (reply.status_code, reply.json()["code"]) == (422, 3001), body
    assert (await client.get("/budgets", headers=owner.headers)).json()["data"] == []
    other = await client.get("/budgets/bgt_nope", headers=owner.headers)
    assert other.json()["code"] == 2352


async def test_alert_levels_beside_a_rolling_window_are_refused_where_they_are_set(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    """A rolling window's spend is never told as a level crossed: levels on a budget whose only
    window is rolling are refused (4162, naming the field), whether the levels or the window
    come second, and nothing changes; levels with a calendar window are kept."""
    owner = await make_merchant()
    rolling = {"limits": [{"amount_cents": 2000, "interval": "rolling", "hours": 5}]}
    refused = await client.post(
        "/budgets",
        json={"name": "x", "windows": rolling, "thresholds_percent": [50, 100]},
        headers=owner.headers,
    )
    assert (refused.status_code, refused.json()["code"]) == (422, 4162), refused.text
    assert refused.json()["data"] == {"field": "thresholds_percent"}
    assert (await client.get("/budgets", headers=owner.headers)).json()["data"] == []

    made = await _budget(client, owner, rolling)  # a rolling window with no level: kept
    url = f"/budgets/{made['id']}"
    late = await client.patch(url, json={"thresholds_percent": [80]}, headers=owner.headers)
    assert late.json()["code"] == 4162, late.text
    calendar = await client.patch(
        url, json={"windows": DAILY, "thresholds_percent": [80]}, headers=owner.headers
    )
    assert calendar.status_code == 200 and calendar.json()["data"]["thresholds_percent"] == [80]
    back = await client.patch(url, json={"windows": rolling}, headers=owner.headers)
    assert back.json()["code"] == 4162, back.text
    kept = (await client.get(url, headers=owner.headers)).json()["data"]
    assert kept["windows"]["limits"] == DAILY["limits"] and kept["thresholds_percent"] == [80]
    both = {"limits": [*DAILY["limits"], *rolling["limits"]]}  # told of the daily window's spend
    beside = await client.patch(url, json={"windows": both}, headers=owner.headers)
    assert beside.status_code == 200, beside.text
    assert beside.json()["data"]["thresholds_percent"] == [80]


async def test_a_policy_names_only_budgets_of_its_merchant_and_environment(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    stranger = await make_merchant()
    theirs = await _budget(client, stranger)
    live = await make_merchant("live", merchant_id=owner.merchant_id)
    live_budget = await _budget(client, live)
    for budget_id in (theirs["id"], live_budget["id"]):
        refused = await _key(client, owner, {"budgets": [budget_id]})
        assert (refused.status_code, refused.json()["code"]) == (422, 2354)
        assert refused.json()["data"] == {"budgets": [budget_id]}
    malformed = await _key(client, owner, {"budgets": ["key_123"]})
    assert malformed.json()["code"] == 3001
    keys = (await client.get("/keys", headers=owner.headers)).json()["data"]
    assert [k["id"] for k in keys] == [owner.key_id]
    assert (await client.get(f"/budgets/{theirs['id']}", headers=owner.headers)).json()[
        "code"
    ] == 2352


async def test_keys_share_a_budget_and_it_shows_who_draws_on_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    budget = await _budget(client, owner)
    url = f"/budgets/{budget['id']}"
    one = (await _key(client, owner, {"budgets": [budget["id"]]})).json()["data"]
    two = (await _key(client, owner, {"budgets": [budget["id"]]})).json()["data"]
    assert (await _send(client, one["key"], 200))["code"] == 1001
    refused = await _send(client, two["key"], 200)
    assert refused["code"] == 2350
    assert refused["data"]["budget_id"] == budget["id"]
    assert refused["data"]["limit_source"] == "daily"
    assert (refused["data"]["limit_cents"], refused["data"]["remaining_cents"]) == (300, 100)
    assert (await _send(client, two["key"], 100))["code"] == 1001

    read = (await client.get(url, headers=owner.headers)).json()["data"]
    assert [(w["spent_cents"], w["remaining_cents"]) for w in read["spend"]] == [(300, 0)]
    own = (await client.get("/keys/self", headers=_auth(one["key"]))).json()["data"]
    assert [(b["budget_id"], b["frozen"]) for b in own["budgets"]] == [(budget["id"], False)]
    assert [w["remaining_cents"] for w in own["budgets"][0]["windows"]] == [0]
    assert [d["key_id"] for d in read["drawn_by"]] == [one["id"], two["id"]]

    drawn = await client.delete(url, headers=owner.headers)
    assert (drawn.status_code, drawn.json()["code"]) == (409, 2353)
    assert [d["key_id"] for d in drawn.json()["data"]["drawn_by"]] == [one["id"], two["id"]]
    for key in (one, two):
        await client.delete(f"/keys/{key['id']}", headers=owner.headers)
    assert (await client.delete(url, headers=owner.headers)).json()["code"] == 1005


async def test_per_platform_and_per_recipient_windows_of_a_budget(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    windows = {
        "per_platform_limit": {"amount_cents": 100, "interval": "daily"},
        "per_recipient_limit": {"amount_cents": 150, "interval": "weekly"},
    }
    budget = await _budget(client, owner, windows)
    key = (await _key(client, owner, {"budgets": [budget["id"]]})).json()["data"]["key"]
    assert (await _send(client, key, 100))["code"] == 1001
    platform = await _send(client, key, 1)
    assert (platform["code"], platform["data"]["limit_source"]) == (2350, "per_platform")
    assert (await _send(client, key, 50, "gemini"))["code"] == 1001
    recipient = await _send(client, key, 1, "gemini")
    assert (recipient["code"], recipient["data"]["limit_source"]) == (2350, "per_recipient")


async def test_a_budgets_rolling_window_is_shared_and_read(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    windows = {"limits": [{"amount_cents": 300, "interval": "rolling", "hours": 5}]}
    budget = await _budget(client, owner, windows)
    one = (await _key(client, owner, {"budgets": [budget["id"]]})).json()["data"]["key"]
    two = (await _key(client, owner, {"budgets": [budget["id"]]})).json()["data"]["key"]
    assert (await _send(client, one, 200))["code"] == 1001
    refused = await _send(client, two, 200)
    assert refused["code"] == 2350
    frees = refused["data"].pop("frees_at")
    assert refused["data"] == {
        "limit_source": "rolling",
        "limit_cents": 300,
        "remaining_cents": 100,
        "resets_at": None,
        "interval": "rolling",
        "hours": 5,
        "budget_id": budget["id"],
    }
    read = (await client.get(f"/budgets/{budget['id']}", headers=owner.headers)).json()["data"]
    assert read["windows"]["limits"] == windows["limits"]
    assert read["spend"] == [
        {
            "interval": "rolling",
            "hours": 5,
            "limit_cents": 300,
            "spent_cents": 200,
            "remaining_cents": 100,
            "resets_at": None,
            "frees_at": frees,
        }
    ]


async def test_a_frozen_budget_admits_nothing_until_unfrozen(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    budget = await _budget(client, owner)
    key = (await _key(client, owner, {"budgets": [budget["id"]]})).json()["data"]["key"]
    frozen = await client.post(f"/budgets/{budget['id']}/freeze", headers=owner.headers)
    assert frozen.json()["data"]["frozen"] is True
    refused = await _send(client, key, 1)
    assert (refused["code"], refused["data"]["budget_id"]) == (2351, budget["id"])
    thawed = await client.delete(f"/budgets/{budget['id']}/freeze", headers=owner.headers)
    assert thawed.json()["data"]["frozen"] is False
    assert (await _send(client, key, 1))["code"] == 1001


async def test_a_key_on_a_budget_never_loosens_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=10_000)
    budget = await _budget(client, owner)
    url = f"/budgets/{budget['id']}"
    bound = await _key(client, owner, {"scopes": ["keys", "topup:send"], "budgets": [budget["id"]]})
    held = _auth(bound.json()["data"]["key"])
    free = await client.post("/keys", json={"policy": {"scopes": ["topup:send"]}}, headers=held)
    assert (free.status_code, free.json()["code"]) == (403, 2317)
    assert free.json()["data"]["fields"] == ["budgets"]
    within = {"scopes": ["topup:send"], "budgets": [budget["id"]]}
    assert (await client.post("/keys", json={"policy": within}, headers=held)).status_code == 201

    looser = {"limits": [{"amount_cents": 100_000, "interval": "daily"}]}
    patched = await client.patch(url, json={"windows": looser}, headers=held)
    assert (patched.status_code, patched.json()["code"]) == (403, 2317)
    assert (await client.delete(url, headers=held)).json()["code"] == 2317
    assert (await client.post(f"{url}/freeze", headers=held)).json()["data"]["frozen"] is True
    assert (await client.delete(f"{url}/freeze", headers=held)).json()["code"] == 2317
    read = (await client.get(url, headers=owner.headers)).json()["data"]
    assert (read["frozen"], read["windows"]["limits"]) == (True, DAILY["limits"])
