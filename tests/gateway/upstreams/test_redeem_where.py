"""Where a provider's recipients redeem: the address and the line of instructions a merchant
sets with the provider, checked as a URL a person opens, shown back by the public and admin
APIs, and a saved credential kept when a save leaves it out."""

import httpx
import pytest

from tests.fixtures.billing import ADMIN_TOKEN
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import NewApiStandIn, newapi_body

SITE = "https://newapi.example.com/console/topup"
LINE = "Sign in with the address this e-mail came to, then open Wallet."


async def test_the_redemption_address_and_line_are_saved_and_listed(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    _, root = newapi_standin
    merchant = await make_merchant("staging")
    body = {**newapi_body(root), "redeem_url": SITE, "redeem_instructions": LINE}
    put = await fulfil_client.put("/fulfilment/claude", json=body, headers=merchant.headers)
    assert put.status_code == 200, put.text
    assert put.json()["data"]["redeem_url"] == SITE
    assert put.json()["data"]["redeem_instructions"] == LINE
    listed = await fulfil_client.get("/fulfilment", headers=merchant.headers)
    claude = next(f for f in listed.json()["data"] if f["platform"] == "claude")
    assert (claude["redeem_url"], claude["redeem_instructions"]) == (SITE, LINE)

    # The admin API sets and shows them too.
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    base = f"http://gateway.test/api/admin/v1/merchants/{merchant.merchant_id}/fulfilment"
    other = {**body, "redeem_url": "https://other.example.com/"}
    saved = await fulfil_client.put(f"{base}/staging/chatgpt", json=other, headers=admin)
    assert saved.json()["data"]["redeem_url"] == "https://other.example.com/", saved.text
    shown = await fulfil_client.get(f"{base}/staging", headers=admin)
    assert {f["platform"]: f["redeem_url"] for f in shown.json()["data"]}["chatgpt"] == (
        "https://other.example.com/"
    )


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("redeem_url", "http://newapi.example.com/", 4201),  # a person's browser: https
        ("redeem_url", "https://10.0.0.8/topup", 4201),  # inside a network
        ("redeem_url", "javascript:alert(1)", 4201),
        ("redeem_instructions", "<b>click</b>", 3001),  # plain text
        ("redeem_instructions", "two\nlines", 3001),
        ("redeem_instructions", "x" * 301, 3001),
    ],
)
async def test_a_bad_address_or_line_is_refused_and_nothing_changes(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
    field: str,
    value: str,
    code: int,
) -> None:
    _, root = newapi_standin
    merchant = await make_merchant("staging")
    body = {**newapi_body(root), field: value}
    put = await fulfil_client.put("/fulfilment/claude", json=body, headers=merchant.headers)
    assert put.json()["code"] == code, put.text
    if code == 4201:
        assert put.json()["data"]["field"] == "redeem_url"
    listed = await fulfil_client.get("/fulfilment", headers=merchant.headers)
    assert {f["provider"] for f in listed.json()["data"]} == {"voucher"}


async def test_loopback_over_http_is_for_staging_where_the_gateway_allows_it(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    _, root = newapi_standin
    merchant = await make_merchant("staging")
    body = {**newapi_body(root), "redeem_url": root + "/console/topup"}
    put = await fulfil_client.put("/fulfilment/claude", json=body, headers=merchant.headers)
    assert put.status_code == 200, put.text


async def test_a_save_without_the_secret_keeps_the_saved_one(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    _, root = newapi_standin
    merchant = await make_merchant("staging")
    h = merchant.headers
    keepless = {k: v for k, v in newapi_body(root).items() if k != "access_token"}
    refused = await fulfil_client.put("/fulfilment/claude", json=keepless, headers=h)
    assert refused.json()["code"] == 3001
    assert refused.json()["data"]["errors"][0]["loc"] == ["access_token"]

    await fulfil_client.put("/fulfilment/claude", json=newapi_body(root), headers=h)
    kept = await fulfil_client.put(
        "/fulfilment/claude", json={**keepless, "redeem_url": SITE}, headers=h
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["data"]["credentials_set"] is True
    tested = await fulfil_client.post("/fulfilment/claude/test", headers=h)
    assert tested.status_code == 200, tested.text  # the saved token still works

    # Another provider has no credential of this one's to keep.
    openrouter = {"provider": "openrouter", "base_url": root + "/api/v1"}
    other = await fulfil_client.put("/fulfilment/claude", json=openrouter, headers=h)
    assert other.json()["data"]["errors"][0]["loc"] == ["management_key"], other.text
