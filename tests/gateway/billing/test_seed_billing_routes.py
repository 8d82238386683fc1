"""The seed's billing API (``seeds/billing-api.txt``) as far as plans, subscriptions and the
daily check-in go: every route it has that this gateway covers answers in the seed's shape, is
in the OpenAPI document, and answers bad input with the envelope, nothing changed."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.ops.openapi import build
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, Subscription, table_of
from gateway.values.settings import Settings
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.stripe import StripeStandIn
from tests.fixtures.subscriptions import MakePlan, Subscribe, post_event

# (method, the seed's path, ours): the seed's routes this gateway covers.
SEED_ROUTES = [
    ("GET", "/subscription/plans", "/api/public/v1/subscription/plans"),
    ("POST", "/payment/create-session", "/api/public/v1/payment/create-session"),
    ("POST", "/subscription/portal", "/api/public/v1/subscription/portal"),
    ("POST", "/payment/webhook/stripe", "/api/public/v1/payment/webhook/stripe"),
    ("GET", "/admin/billing/plans", "/api/admin/v1/billing/plans"),
    ("POST", "/admin/billing/plans", "/api/admin/v1/billing/plans"),
    ("PUT", "/admin/billing/plans/:id", "/api/admin/v1/billing/plans/{id}"),
    ("POST", "/checkin", "/api/public/v1/checkin"),
    # The seed names one check-in config and gives it no body; here it is one per environment
    # (GET answers {staging, live}, PUT names its env): staging is on and live off until an
    # operator turns it on, as every setting here keeps the two environments apart.
    ("GET", "/admin/checkin/config", "/api/admin/v1/checkin/config"),
    ("PUT", "/admin/checkin/config", "/api/admin/v1/checkin/config"),
]


@pytest.mark.parametrize(("method", "seed", "ours"), SEED_ROUTES)
def test_every_covered_seed_route_is_in_the_openapi_document(
    stripe_stood_in_settings: Settings, method: str, seed: str, ours: str
) -> None:
    spec = build(create_app(stripe_stood_in_settings).routes)
    assert method.lower() in spec["paths"][ours], seed


async def _count(db: Database, model: Any, merchant_id: str) -> int:
    table = table_of(model)
    async with db.read() as conn:
        found = await conn.execute(
            select(func.count()).select_from(table).where(table.c.merchant_id == merchant_id)
        )
        return int(found.scalar_one())


async def test_the_seed_routes_answer_in_the_seeds_shape(
    sub_api: httpx.AsyncClient,
    sub_admin: httpx.AsyncClient,
    stripe_stand_in: StripeStandIn,
    subscribe: Subscribe,
    make_merchant: MakeMerchant,
) -> None:
    bought = await subscribe()
    merchant = bought.merchant
    # POST /payment/create-session answered (in the fixture) with a redirect URL.
    session = stripe_stand_in.sessions[bought.session["id"]]
    assert session["mode"] == "subscription"
    assert session["url"].startswith("https://checkout.stripe.com/")

    plans = (await sub_api.get("/subscription/plans", headers=merchant.headers)).json()
    assert plans["success"] is True
    assert any(p["id"] == bought.plan["id"] for p in plans["data"])

    hook = await post_event(sub_api, stripe_stand_in.event("invoice.paid", bought.first_invoice))
    assert hook.json()["success"] is True

    portal = await sub_api.post(
        "/subscription/portal",
        json={"return_url": "https://example.com/dashboard/subscription"},
        headers=merchant.headers,
    )
    assert portal.json()["success"] is True
    assert portal.json()["data"]["url"].startswith("https://billing.stripe.com/")

    listed = (await sub_admin.get("/billing/plans")).json()
    assert listed["success"] is True and isinstance(listed["data"], list)
    put = await sub_admin.put(f"/billing/plans/{bought.plan['id']}", json={"features": ["All"]})
    assert put.json()["success"] is True and put.json()["data"]["features"] == ["All"]

    # The seed's topup through the same door: a pack's checkout, its order and its URL.
    topup = await sub_api.post(
        "/payment/create-session",
        json={"channel": "stripe", "type": "topup", "pack_id": "pack_starter"},
        headers=merchant.headers,
    )
    assert topup.status_code == 201, topup.text
    data = topup.json()["data"]
    assert (data["type"], data["channel"]) == ("topup", "stripe")
    assert data["order_id"].startswith("ord_") and data["url"].startswith("https://")


async def test_the_seed_checkin_routes_answer_in_the_seeds_shape(
    sub_api: httpx.AsyncClient,
    sub_admin: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    checkin_config_restored: None,
) -> None:
    config = (await sub_admin.get("/checkin/config")).json()
    assert config["success"] is True
    assert {env: config["data"][env]["env"] for env in ("staging", "live")} == {
        "staging": "staging",
        "live": "live",
    }
    body = {"env": "staging", "enabled": True, "min_cents": 5, "max_cents": 5}
    put = (await sub_admin.put("/checkin/config", json=body)).json()
    assert put["success"] is True and {k: put["data"][k] for k in body} == body

    # "Awards daily free credits. Returns error if already checked in today."
    merchant = await make_merchant("staging")
    awarded = await sub_api.post("/checkin", headers=merchant.headers)
    assert awarded.json()["success"] is True, awarded.text
    assert awarded.json()["data"]["amount_cents"] == 5
    balance = await sub_api.get("/balance", headers=merchant.headers)
    assert balance.json()["data"]["balance_cents"] == awarded.json()["data"]["balance_cents"]
    again = await sub_api.post("/checkin", headers=merchant.headers)
    assert (again.status_code, again.json()["success"], again.json()["code"]) == (409, False, 4300)


BAD_SESSIONS: list[tuple[str, Any, int]] = [
    ("unknown channel", {"channel": "nowhere", "type": "subscription", "plan_id": "x"}, 4324),
    ("unknown type", {"channel": "stripe", "type": "lifetime", "plan_id": "x"}, 3000),
    ("no plan", {"channel": "stripe", "type": "subscription"}, 3000),
    ("a pack on a subscription", {"channel": "stripe", "type": "subscription",
                                  "plan_id": "x", "pack_id": "pack_pro"}, 3000),
    ("no pack", {"channel": "stripe", "type": "topup"}, 3000),
    ("a bad interval", {"channel": "stripe", "type": "subscription", "plan_id": "x",
                        "interval": "week"}, 3000),
    ("an unknown plan", {"channel": "stripe", "type": "subscription", "plan_id": "plan_x"}, 4320),
    ("a relative success_url", {"channel": "stripe", "type": "subscription", "plan_id": "x",
                                "success_url": "/done"}, 3000),
    ("an unknown field", {"channel": "stripe", "type": "topup", "pack_id": "pack_pro",
                          "quantity": 2}, 3000),
    ("not an object", ["channel", "stripe"], 3000),
    ("a number for channel", {"channel": 1, "type": "topup", "pack_id": "pack_pro"}, 3000),
]  # fmt: skip


@pytest.mark.parametrize(("why", "body", "band"), BAD_SESSIONS, ids=[b[0] for b in BAD_SESSIONS])
async def test_bad_payment_sessions_are_answered_by_the_envelope_and_change_nothing(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    why: str,
    body: Any,
    band: int,
) -> None:
    merchant = await make_merchant("live")
    reply = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    envelope = reply.json()
    assert 400 <= reply.status_code < 500, (why, reply.text)
    assert envelope["success"] is False
    assert set(envelope) == {
        "success", "code", "message", "transaction_id", "status", "timestamp", "data"
    }  # fmt: skip
    if band == 3000:
        assert envelope["code"] // 1000 == 3, (why, envelope)
    else:
        assert envelope["code"] == band, (why, envelope)
    assert await _count(db, Subscription, merchant.merchant_id) == 0
    assert await _count(db, FundingOrder, merchant.merchant_id) == 0


async def test_other_refusals_of_the_seed_routes(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    make_plan: MakePlan,
) -> None:
    live = await make_merchant("live")
    staging = await make_merchant("staging")
    staging_plan = await make_plan("staging")

    sandbox_on_live = await sub_api.post(
        "/payment/create-session",
        json={"channel": "sandbox", "type": "subscription", "plan_id": staging_plan["id"]},
        headers=live.headers,
    )
    assert (sandbox_on_live.status_code, sandbox_on_live.json()["code"]) == (422, 4325)
    # Another environment's plan is not found.
    other_env = await sub_api.post(
        "/payment/create-session",
        json={"channel": "stripe", "type": "subscription", "plan_id": staging_plan["id"]},
        headers=live.headers,
    )
    assert (other_env.status_code, other_env.json()["code"]) == (404, 4320)
    no_subscription = await sub_api.post(
        "/subscription/portal", json={"return_url": "https://x.example/b"}, headers=staging.headers
    )
    assert (no_subscription.status_code, no_subscription.json()["code"]) == (404, 4323)
    for bad in ({}, {"return_url": "ftp://x.example"}, {"return_url": 5}):
        reply = await sub_api.post("/subscription/portal", json=bad, headers=staging.headers)
        assert reply.status_code == 422 and reply.json()["code"] // 1000 == 3, reply.text
    malformed = await sub_api.post(
        "/payment/create-session",
        content=b"{not json",
        headers={**staging.headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code in (400, 422) and malformed.json()["success"] is False
    for who in (live, staging):
        assert await _count(db, Subscription, who.merchant_id) == 0
