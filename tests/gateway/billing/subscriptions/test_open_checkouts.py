"""An unpaid subscription checkout holds the merchant's place, and every door says so alike:
``GET /subscription`` shows it (``open_checkout``, with where to continue), a second checkout and
the portal answer 4570 with it, and ``DELETE /subscription/checkout`` ends it (at Stripe too), so
a new one opens at once. A Stripe session paid meanwhile is not ended. On SQLite and
PostgreSQL."""

import asyncio

import httpx

from gateway.store.engine import Database
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.stripe import StripeStandIn
from tests.fixtures.subscriptions import MakePlan, post_event

PORTAL = {"return_url": "https://merchant.example/back"}


async def test_an_open_sandbox_checkout_is_shown_refused_with_its_link_and_cancelled(
    sub_api: httpx.AsyncClient, make_plan: MakePlan, make_merchant: MakeMerchant
) -> None:
    plan = await make_plan("staging")
    merchant = await make_merchant("staging")
    body = {"channel": "sandbox", "type": "subscription", "plan_id": plan["id"]}
    opened = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    assert opened.status_code == 201, opened.text
    made = opened.json()["data"]

    shown = (await sub_api.get("/subscription", headers=merchant.headers)).json()["data"]
    assert shown["subscription"] is None
    checkout = shown["open_checkout"]
    assert checkout["subscription_id"] == made["subscription_id"]
    assert (checkout["url"], checkout["channel"], checkout["interval"]) == (
        made["url"],
        "sandbox",
        "month",
    )
    assert checkout["plan"]["id"] == plan["id"] and checkout["expires_at"] == made["expires_at"]

    again = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    portal = await sub_api.post("/subscription/portal", json=PORTAL, headers=merchant.headers)
    for refused in (again, portal):
        assert (refused.status_code, refused.json()["code"]) == (409, 4570), refused.text
        assert refused.json()["data"]["open_checkout"] == checkout

    # Two cancels at once: one ends it, the other finds nothing open.
    cancels = await asyncio.gather(
        *(sub_api.delete("/subscription/checkout", headers=merchant.headers) for _ in range(2))
    )
    assert sorted(c.json()["code"] for c in cancels) == [1000, 4571], [c.text for c in cancels]
    shown = (await sub_api.get("/subscription", headers=merchant.headers)).json()["data"]
    assert shown == {"subscription": None, "open_checkout": None}
    fresh = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    assert fresh.status_code == 201, fresh.text


async def test_cancelling_a_stripe_checkout_expires_it_at_stripe_unless_paid(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    plan = await make_plan()
    body = {"channel": "stripe", "type": "subscription", "plan_id": plan["id"]}
    merchant = await make_merchant("live")
    made = (
        await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    ).json()["data"]
    cancelled = await sub_api.delete("/subscription/checkout", headers=merchant.headers)
    assert cancelled.json()["code"] == 1000, cancelled.text
    assert stripe_stand_in.sessions[made["session_id"]]["status"] == "expired"

    paid_meanwhile = await make_merchant("live")
    made = (
        await sub_api.post("/payment/create-session", json=body, headers=paid_meanwhile.headers)
    ).json()["data"]
    _, invoice = stripe_stand_in.subscribe(made["session_id"])
    refused = await sub_api.delete("/subscription/checkout", headers=paid_meanwhile.headers)
    assert refused.json()["code"] == 4107, refused.text  # Stripe's refusal: it is not open
    shown = (await sub_api.get("/subscription", headers=paid_meanwhile.headers)).json()["data"]
    assert shown["open_checkout"]["subscription_id"] == made["subscription_id"]
    # Its payment reported, it is the subscription, and no checkout is open.
    assert (await post_event(sub_api, stripe_stand_in.event("invoice.paid", invoice))).is_success
    shown = (await sub_api.get("/subscription", headers=paid_meanwhile.headers)).json()["data"]
    assert shown["subscription"]["status"] == "active" and shown["open_checkout"] is None
