"""Fulfilment settings over the public and admin APIs: saved per env and platform, credentials
sealed and never returned, upstream URLs checked, the connection tested against a stand-in."""

import httpx
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import FulfilmentSetting
from tests.fixtures.billing import ADMIN_TOKEN
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import (
    NEWAPI_ADMIN_ID,
    NEWAPI_ADMIN_TOKEN,
    OPENROUTER_MANAGEMENT_KEY,
    NewApiStandIn,
    OpenRouterStandIn,
    newapi_body,
)


async def test_saved_listed_and_never_shown(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    _, root = newapi_standin
    merchant = await make_merchant("staging")
    put = await fulfil_client.put(
        "/fulfilment/claude", json=newapi_body(root), headers=merchant.headers
    )
    assert put.status_code == 200, put.text
    assert NEWAPI_ADMIN_TOKEN not in put.text
    data = put.json()["data"]
    assert data["provider"] == "newapi"
    assert data["credentials_set"] is True
    assert data["quota_per_usd"] == 500_000
    assert data["user_id"] == str(NEWAPI_ADMIN_ID)

    listed = await fulfil_client.get("/fulfilment", headers=merchant.headers)
    assert NEWAPI_ADMIN_TOKEN not in listed.text
    providers = {f["platform"]: f["provider"] for f in listed.json()["data"]}
    assert providers == {"claude": "newapi", "chatgpt": "voucher", "gemini": "voucher"}

    async with db.read() as conn:
        row = (
            await conn.execute(
                select(FulfilmentSetting).where(
                    FulfilmentSetting.merchant_id == merchant.merchant_id
                )
            )
        ).one()
    assert row.credentials_sealed is not None
    assert NEWAPI_ADMIN_TOKEN not in row.credentials_sealed

    # The voucher again: the row goes, the default is back.
    back = await fulfil_client.put(
        "/fulfilment/claude", json={"provider": "voucher"}, headers=merchant.headers
    )
    assert back.json()["data"]["provider"] == "voucher"
    listed = await fulfil_client.get("/fulfilment", headers=merchant.headers)
    assert {f["provider"] for f in listed.json()["data"]} == {"voucher"}


async def test_connection_test_passes_and_refuses_with_its_outcome(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    newapi, root = newapi_standin
    _, or_root = openrouter_standin
    merchant = await make_merchant("staging")
    h = merchant.headers
    none = await fulfil_client.post("/fulfilment/claude/test", headers=h)
    assert none.json()["code"] == 4200

    await fulfil_client.put("/fulfilment/claude", json=newapi_body(root), headers=h)
    ok = await fulfil_client.post("/fulfilment/claude/test", headers=h)
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["ok"] is True

    await fulfil_client.put("/fulfilment/claude", json=newapi_body(root, "wrong-token"), headers=h)
    refused = await fulfil_client.post("/fulfilment/claude/test", headers=h)
    assert refused.status_code == 502
    body = refused.json()
    assert body["code"] == 4202
    assert body["message"] == "New API refused the credentials"
    assert body["data"] == {"outcome": "credentials_refused", "transient": False}
    assert "wrong-token" not in refused.text

    await fulfil_client.put("/fulfilment/claude", json=newapi_body(root), headers=h)
    newapi.faults.down = True
    down = await fulfil_client.post("/fulfilment/claude/test", headers=h)
    assert (down.status_code, down.json()["code"]) == (504, 4203)

    openrouter = {
        "provider": "openrouter",
        "management_key": OPENROUTER_MANAGEMENT_KEY,
        "base_url": or_root,
    }
    await fulfil_client.put("/fulfilment/gemini", json=openrouter, headers=h)
    ok = await fulfil_client.post("/fulfilment/gemini/test", headers=h)
    assert ok.json()["data"] == {**ok.json()["data"], "ok": True, "provider": "openrouter"}


async def test_bad_input_gets_the_envelope_and_changes_nothing(
    fulfil_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    h = merchant.headers
    cases = [
        ("/fulfilment/claude", {"provider": "newapi"}, 422, 3001),
        ("/fulfilment/claude", {"provider": "other"}, 422, 3001),
        ("/fulfilment/claude", {"provider": "voucher", "x": 1}, 422, 3001),
        ("/fulfilment/nope", {"provider": "voucher"}, 404, 3007),
        ("/fulfilment/claude", newapi_body("ftp://example.com"), 422, 4201),
        ("/fulfilment/claude", {**newapi_body("http://a.test"), "user_id": "1"}, 422, 3001),
    ]
    for path, body, status, code in cases:
        answer = await fulfil_client.put(path, json=body, headers=h)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (body, answer.text)
    listed = await fulfil_client.get("/fulfilment", headers=h)
    assert {f["provider"] for f in listed.json()["data"]} == {"voucher"}


async def test_live_refuses_loopback_upstreams(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    _, root = newapi_standin
    merchant = await make_merchant("live")
    refused = await fulfil_client.put(
        "/fulfilment/claude", json=newapi_body(root), headers=merchant.headers
    )
    assert refused.json()["code"] == 4201
    assert refused.json()["message"] == (
        "Upstream URL invalid: URL host resolves to 127.0.0.1, which is loopback:"
        " only public internet addresses are allowed"
    )
    assert refused.json()["data"] == {
        "address": "127.0.0.1",
        "reason": "loopback",
        "field": "base_url",
    }


async def test_the_scope_is_needed(
    fulfil_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    made = await fulfil_client.post(
        "/keys",
        json={"name": "sender", "policy": {"scopes": ["topup:send", "keys"]}},
        headers=merchant.headers,
    )
    assert made.status_code == 201, made.text
    narrow = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    for method, path in [
        ("GET", "/fulfilment"),
        ("PUT", "/fulfilment/claude"),
        ("POST", "/fulfilment/claude/test"),
    ]:
        answer = await fulfil_client.request(
            method, path, json={"provider": "voucher"}, headers=narrow
        )
        assert answer.json()["code"] == 2301, (method, path)
    # A key made before policies keeps every scope, this one included.
    assert (await fulfil_client.get("/fulfilment", headers=merchant.headers)).status_code == 200


async def test_admin_api_sets_either_environment(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    _, or_root = openrouter_standin
    merchant = await make_merchant("staging")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    base = f"http://gateway.test/api/admin/v1/merchants/{merchant.merchant_id}/fulfilment"
    body = {
        "provider": "openrouter",
        "management_key": OPENROUTER_MANAGEMENT_KEY,
        "base_url": or_root,
    }
    put = await fulfil_client.put(f"{base}/staging/chatgpt", json=body, headers=admin)
    assert put.status_code == 200, put.text
    assert OPENROUTER_MANAGEMENT_KEY not in put.text
    tested = await fulfil_client.post(f"{base}/staging/chatgpt/test", headers=admin)
    assert tested.json()["data"]["ok"] is True
    live = await fulfil_client.get(f"{base}/live", headers=admin)
    assert {f["provider"] for f in live.json()["data"]} == {"voucher"}
    bad_env = await fulfil_client.get(f"{base}/prod", headers=admin)
    assert bad_env.json()["code"] == 3007
    unknown = await fulfil_client.get(
        "http://gateway.test/api/admin/v1/merchants/m_nope/fulfilment/live", headers=admin
    )
    assert unknown.json()["code"] == 4140
    # The merchant's own staging key sees what the operator set.
    mine = await fulfil_client.get("/fulfilment", headers=merchant.headers)
    assert {f["platform"]: f["provider"] for f in mine.json()["data"]}["chatgpt"] == "openrouter"
