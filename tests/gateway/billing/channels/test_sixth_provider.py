"""A sixth provider: a made-up channel taking packs, subscriptions and refunds (a module in
``tests/fixtures/orbit_pay.py`` and one registry line, ``providers.registered``) is set up by
the operator, takes a pack order, a subscription's paid period and a refund end to end, on both
stores, with no other change to the product."""

import time
from typing import Any

import httpx
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import Subscription, table_of
from tests.fixtures import channels
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.orbit_pay import API_KEY, ORBIT, WEBHOOK_SECRET, OrbitStandIn
from tests.fixtures.subscriptions import CANCEL, SUCCESS, MakePlan, balance, credits_of

WEBHOOK = f"/payment/webhook/{ORBIT}"


async def _send(api: httpx.AsyncClient, event: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = event
    return await api.post(WEBHOOK, content=body, headers=headers)


async def test_a_pack_a_subscription_period_and_a_refund_go_through_a_sixth_channel(
    sub_api: httpx.AsyncClient,
    sub_admin: httpx.AsyncClient,
    orbit_pay: OrbitStandIn,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    credentials = {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": orbit_pay.url}
    await channels.enable(
        sub_admin, ORBIT, credentials, env="live", secrets=(API_KEY, WEBHOOK_SECRET)
    )
    merchant = await make_merchant("live")

    # A pack: opened at the channel, credited once by its notification however often it comes.
    made = await channels.checkout(sub_api, merchant, ORBIT)
    assert (made["provider"], made["channel"]) == (ORBIT, ORBIT)
    assert made["checkout_url"].startswith(f"{orbit_pay.url}/pay/")
    checkout_id = channels.provider_id(made)
    assert orbit_pay.checkouts[checkout_id]["reference"] == made["order_id"]
    paid = orbit_pay.paid(checkout_id)
    for _ in range(2):
        reply = await _send(sub_api, paid)
        assert (reply.status_code, reply.json()) == (200, {"received": True}), reply.text
    assert await balance(sub_api, merchant) == made["credit_cents"]
    order = await channels.order(sub_api, merchant, made["order_id"])
    assert (order["status"], order["provider_payment_id"]) == ("completed", checkout_id)
    await channels.paid_once(db, merchant.merchant_id, made["order_id"], made["credit_cents"])

    # A subscription: opened at the channel, each paid period credited once.
    plan = await make_plan(price_monthly=1900, credits_included=2500)
    reply = await sub_api.post(
        "/payment/create-session",
        json={
            "channel": ORBIT,
            "type": "subscription",
            "plan_id": plan["id"],
            "interval": "month",
            "success_url": SUCCESS,
            "cancel_url": CANCEL,
        },
        headers=merchant.headers,
    )
    assert reply.status_code == 201, reply.text
    session: dict[str, Any] = reply.json()["data"]
    assert session["channel"] == ORBIT and session["url"].startswith(f"{orbit_pay.url}/pay/")
    opened = orbit_pay.subscriptions[session["session_id"]]
    assert (opened["reference"], opened["amount"]) == (session["subscription_id"], 1900)
    period = orbit_pay.period_paid(session["session_id"], int(time.time()) + 30 * 86400)
    for _ in range(2):
        reply = await _send(sub_api, period)
        assert reply.status_code == 200, reply.text
    assert await credits_of(db, merchant) == 1
    assert await balance(sub_api, merchant) == made["credit_cents"] + 2500
    shown = (await sub_api.get("/subscription", headers=merchant.headers)).json()["data"]
    assert shown["subscription"]["status"] == "active"
    async with db.read() as conn:
        provider = (
            await conn.execute(
                select(table_of(Subscription).c.provider).where(
                    table_of(Subscription).c.id == session["subscription_id"]
                )
            )
        ).scalar_one()
    assert provider == ORBIT

    # A refund of the pack: through the channel, once, however often it is asked.
    path = f"/orders/{made['order_id']}/refund"
    refunded = await sub_admin.post(path, json={"reason": "payer asked"})
    assert refunded.status_code == 200, refunded.text
    data = refunded.json()["data"]
    assert (data["amount_cents"], data["provider_status"]) == (made["amount_cents"], "succeeded")
    [asked] = orbit_pay.refunds.values()
    assert (asked["payment"], asked["amount"]) == (checkout_id, made["amount_cents"])
    again = await sub_admin.post(path, json={"reason": "payer asked"})
    assert again.status_code != 200
    assert len(orbit_pay.refunds) == 1
    assert await balance(sub_api, merchant) == 2500
    await assert_ledger_balanced(db)
