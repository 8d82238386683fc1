"""Top-up info and custom-amount checkout: the settings' bounds, the discount tier and a coupon
applied by one rule, so the Stripe session (the stand-in, through the real ``stripe`` package),
the order and the receipt agree to the cent."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.billing.orders import pricing
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.billing import ADMIN_TOKEN
from tests.fixtures.core import asgi_client, make_settings, running_app
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.stripe import StripeStandIn

OK = "https://merchant.example/paid"
NO = "https://merchant.example/cancelled"


@pytest.fixture
async def api(stripe_stood_in_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(stripe_stood_in_settings) as app, asgi_client(app) as http:
        yield http


async def coupon(api: httpx.AsyncClient, **body: Any) -> str:
    code = "C" + uuid.uuid4().hex[:10].upper()
    reply = await api.post(
        "http://gateway.test/api/admin/v1/coupons",
        json={"code": code, **body},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert reply.status_code == 201, reply.text
    return code


async def checkout(api: httpx.AsyncClient, merchant: MerchantKey, **body: Any) -> httpx.Response:
    return await api.post(
        "/billing/checkout",
        json={"success_url": OK, "cancel_url": NO, **body},
        headers=merchant.headers,
    )


async def test_topup_info_says_what_funding_offers_in_the_keys_env(
    api: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live")
    reply = await api.get("/billing/topup-info", headers=staging.headers)
    assert reply.status_code == 200, reply.text
    info = reply.json()["data"]
    assert info["env"] == "staging"
    assert [p["id"] for p in info["packs"]] == ["pack_starter", "pack_pro", "pack_business"]
    assert (info["custom_amounts"], info["min_cents"], info["max_cents"], info["step_cents"]) == (
        True,
        500,
        1_000_000,
        100,
    )
    assert info["amount_options"] == [1000, 2000, 5000, 10000, 50000]
    assert info["discount_tiers"] == [
        {"from_cents": 10000, "percent_off": 5},
        {"from_cents": 50000, "percent_off": 10},
    ]
    assert info["providers"] == ["sandbox"]  # staging never pays through Stripe
    assert info["redemption"] is True
    assert info["wallet_url"] == "http://gateway.test/dashboard/wallet"
    live_info = (await api.get("/billing/topup-info", headers=live.headers)).json()["data"]
    assert live_info["providers"] == ["stripe", "stripe_invoice"]
    refused = await api.get("/billing/topup-info")
    assert (refused.status_code, refused.json()["code"]) == (401, 2001)


async def test_a_custom_amount_with_a_tier_and_a_coupon_agrees_to_the_cent_everywhere(
    api: httpx.AsyncClient, stripe_stand_in: StripeStandIn, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    code = await coupon(api, percent_off=5)
    reply = await checkout(api, merchant, amount_cents=60_000, coupon=code.lower())
    assert reply.status_code == 201, reply.text
    made = reply.json()["data"]
    # 60,000 reaches the 10% tier: 6,000 off; the coupon's 5% of the 54,000 left: 2,700.
    assert (made["pack_id"], made["name"]) == (None, "Custom amount")
    assert (made["price_cents"], made["tier_percent"], made["tier_discount_cents"]) == (
        60_000,
        10,
        6_000,
    )
    assert (made["discount_cents"], made["amount_cents"]) == (2_700, 51_300)
    assert (made["credit_cents"], made["credits"]) == (60_000, 600_000)

    session = stripe_stand_in.session_of(made["order_id"])
    assert (session["amount_total"], session["currency"]) == (51_300, "usd")
    assert "pack_id" not in session["metadata"]

    order = (await api.get(f"/orders/{made['order_id']}", headers=merchant.headers)).json()
    for name in ("price_cents", "tier_percent", "tier_discount_cents", "discount_cents"):
        assert order["data"][name] == made[name], name
    assert order["data"]["amount_cents"] == session["amount_total"]
    assert order["data"]["coupon"] == code

    stripe_stand_in.pay(session["id"])
    checked = await api.post(f"/orders/{made['order_id']}/check", headers=merchant.headers)
    assert checked.json()["data"]["result"] == "credited"
    balance = (await api.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance_cents"] == 60_000

    receipt = await api.get(f"/orders/{made['order_id']}/receipt", headers=merchant.headers)
    assert receipt.status_code == 200, receipt.text
    lines = receipt.json()["data"]
    assert (lines["amount_paid_cents"], lines["credit_cents"]) == (51_300, 60_000)
    assert (lines["tier_discount_cents"], lines["coupon_discount_cents"]) == (6_000, 2_700)
    assert lines["payment_reference"] == session["payment_intent"]


async def test_a_staging_custom_amount_is_paid_through_the_sandbox(
    api: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    reply = await checkout(api, merchant, amount_cents=10_000)
    made = reply.json()["data"]
    assert (made["provider"], made["tier_percent"], made["amount_cents"]) == ("sandbox", 5, 9_500)
    pay = made["checkout_url"].replace("?token=", "/pay?token=")
    paid = await api.post(pay, headers={"Accept": "application/json"})
    assert paid.status_code == 200, paid.text
    balance = (await api.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance_cents"] == 10_000


async def test_amounts_outside_the_settings_are_refused_and_make_nothing(
    api: httpx.AsyncClient, stripe_stand_in: StripeStandIn, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    before = len(stripe_stand_in.sessions)
    for amount in (499, 550, 1_000_100):
        reply = await checkout(api, merchant, amount_cents=amount)
        body = reply.json()
        assert (reply.status_code, body["code"]) == (422, 4152), amount
        assert body["data"] == {"min_cents": 500, "max_cents": 1_000_000, "step_cents": 100}
    bad_bodies: list[dict[str, Any]] = [
        {},
        {"pack_id": "pack_pro", "amount_cents": 1000},
        {"amount_cents": "1000"},
        {"amount_cents": 10.5},
        {"amount_cents": True},
        {"amount_cents": 0},
    ]
    for body in bad_bodies:
        reply = await checkout(api, merchant, **body)
        assert (reply.status_code, reply.json()["code"]) == (422, 3001), body
    bound = await coupon(api, percent_off=5, pack_id="pack_pro")
    reply = await checkout(api, merchant, amount_cents=1000, coupon=bound)
    assert reply.json()["code"] == 4105
    assert len(stripe_stand_in.sessions) == before
    listed = await api.get("/orders", headers=merchant.headers)
    assert listed.json()["meta"]["total"] == 0


def test_the_rule_never_charges_below_stripes_smallest(database_url: str, redis_url: str) -> None:
    settings = make_settings(
        database_url,
        redis_url,
        funding_min_cents=50,
        funding_step_cents=10,
        funding_discount_tiers="50:90",
    )
    now = datetime.now(UTC)
    quote = pricing.quote(settings, pack=None, amount_cents=60, coupon=None, now=now)
    assert (quote.amount_cents, quote.tier_discount_cents) == (50, 10)
    off = make_settings(database_url, redis_url, funding_custom_amounts=False)
    with pytest.raises(ApiError) as refused:
        pricing.quote(off, pack=None, amount_cents=1000, coupon=None, now=now)
    assert refused.value.code == 4151
    for bad in ("1000:0", "x:5", "1000:5,1000:6", "1000:91"):
        with pytest.raises(ValueError):
            make_settings(database_url, redis_url, funding_discount_tiers=bad)


async def test_orders_list_and_history_filter_by_status(
    api: httpx.AsyncClient, stripe_stand_in: StripeStandIn, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    made = [
        (await checkout(api, merchant, pack_id="pack_starter")).json()["data"] for _ in range(3)
    ]
    stripe_stand_in.pay(stripe_stand_in.session_of(made[0]["order_id"])["id"])
    stripe_stand_in.expire(stripe_stand_in.session_of(made[1]["order_id"])["id"])
    for order in made[:2]:
        await api.post(f"/orders/{order['order_id']}/check", headers=merchant.headers)

    async def ids(path: str, **params: Any) -> list[str]:
        reply = await api.get(path, params=params, headers=merchant.headers)
        assert reply.status_code == 200, reply.text
        return [o["id"] for o in reply.json()["data"]]

    newest_first = [o["order_id"] for o in reversed(made)]
    assert await ids("/orders") == newest_first
    assert await ids("/orders", status="completed") == [made[0]["order_id"]]
    assert await ids("/orders", status="expired") == [made[1]["order_id"]]
    assert await ids("/orders", status="pending") == [made[2]["order_id"]]
    assert await ids("/billing/history", status="completed") == [made[0]["order_id"]]
    assert await ids("/orders", limit=1, offset=1) == [newest_first[1]]
    for bad in ({"status": "paid"}, {"limit": 0}, {"limit": 101}, {"offset": -1}, {"x": 1}):
        reply = await api.get("/orders", params=bad, headers=merchant.headers)
        assert (reply.status_code, reply.json()["code"]) == (422, 3006), bad
    reply = await api.get("/billing/history", params={"status": "nope"}, headers=merchant.headers)
    assert reply.json()["code"] == 3006


async def test_a_send_refused_for_balance_answers_the_shortfall_exactly(
    api: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=4_999)
    body = {"platform": "claude", "amount_cents": 12_000, "recipient_email": "a@example.com"}
    headers = {**merchant.headers, "Idempotency-Key": "short-1"}
    reply = await api.post("/topup/send", json=body, headers=headers)
    assert (reply.status_code, reply.json()["code"]) == (402, 4001)
    data = reply.json()["data"]
    assert (data["balance_cents"], data["required_cents"], data["shortfall_cents"]) == (
        4_999,
        12_000,
        7_001,
    )
    fund = data["fund"]
    assert fund["wallet_url"] == "http://gateway.test/dashboard/wallet"
    assert fund["topup_info_url"] == "http://gateway.test/api/public/v1/billing/topup-info"
    assert [p["id"] for p in fund["packs"]] == []  # no pack holds 7,001: a custom amount does
    replay = await api.post("/topup/send", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == reply.content
    smaller = {**body, "amount_cents": 9_000}  # 4,001 short: only Business covers it
    covered = await api.post("/topup/send", json=smaller, headers=merchant.headers)
    assert [p["id"] for p in covered.json()["data"]["fund"]["packs"]] == ["pack_business"]
