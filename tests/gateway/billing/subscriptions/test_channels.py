"""A channel's subscriptions, through the stood-in Creem, on both stores: bought through
``/payment/create-session`` with ``channel: "creem"`` (the plan's recurring product, as the
channel's credentials map it), each ``subscription.paid`` crediting its period exactly once
whatever the events do (duplicated, reordered, repeated under another event id), past due with
no credit until paid, canceled with no further credit; forged, stale and another merchant's
reports refused with nothing credited; lost reports found by reconciliation among the customer's
transactions; the portal is Creem's customer portal."""

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gateway.billing.subscriptions import renewals as subscription_channels
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.creem import API_KEY, WEBHOOK_SECRET, CreemStandIn
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.subscriptions import CANCEL, SUCCESS, MakePlan, balance, credits_of
from tests.fixtures.webhooks import events_of

WEBHOOK = "/payment/webhook/creem"


class Bought:
    def __init__(self, merchant: MerchantKey, plan: dict[str, Any], data: dict[str, Any]):
        self.merchant, self.plan, self.data = merchant, plan, data
        self.creem_id = ""


@pytest.fixture
async def buy(
    sub_api: httpx.AsyncClient,
    sub_admin: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> Any:
    """A live merchant subscribes to a new plan through Creem and pays on its page."""

    async def bought() -> Bought:
        plan = await make_plan(price_monthly=1900, credits_included=2500)
        product = creem_stand_in.add_product(1900, name="Pro monthly")
        credentials = {
            "api_key": API_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "api_base": creem_stand_in.url,
            "plan_products": {f"{plan['id']}/month": product},
        }
        saved = await sub_admin.put(
            "/billing/channels/creem/live", json={"enabled": True, "credentials": credentials}
        )
        assert saved.status_code == 200, saved.text
        merchant = await make_merchant("live")
        reply = await sub_api.post(
            "/payment/create-session",
            json={
                "channel": "creem",
                "type": "subscription",
                "plan_id": plan["id"],
                "interval": "month",
                "success_url": SUCCESS,
                "cancel_url": CANCEL,
            },
            headers=merchant.headers,
        )
        assert reply.status_code == 201, reply.text
        data = reply.json()["data"]
        assert data["channel"] == "creem" and data["url"].startswith(creem_stand_in.url)
        checkout = creem_stand_in.checkouts[data["session_id"]]
        assert (checkout["product"], checkout["request_id"]) == (product, data["subscription_id"])
        assert checkout["metadata"]["merchant_id"] == merchant.merchant_id
        found = Bought(merchant, plan, data)
        found.creem_id = creem_stand_in.subscribe(data["session_id"])["id"]
        return found

    return bought


async def _send(api: httpx.AsyncClient, event: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = event
    return await api.post(WEBHOOK, content=body, headers=headers)


async def _shown(api: httpx.AsyncClient, merchant: MerchantKey) -> dict[str, Any]:
    reply = await api.get("/subscription", headers=merchant.headers)
    found: dict[str, Any] = reply.json()["data"]["subscription"]
    return found


async def test_three_paid_periods_credit_three_times_whatever_the_events_do(
    sub_api: httpx.AsyncClient, db: Database, creem_stand_in: CreemStandIn, buy: Any
) -> None:
    bought = await buy()
    merchant, credits = bought.merchant, bought.plan["credits_included"]
    start = await balance(sub_api, merchant)
    # The first checkout's completion is not a period: subscription.paid credits it.
    completed = creem_stand_in.event(bought.data["session_id"])
    assert (await _send(sub_api, completed)).status_code == 200
    assert await _shown(sub_api, merchant) is None

    paid_1 = creem_stand_in.subscription_event(bought.creem_id)
    creem_stand_in.renew(bought.creem_id)
    paid_2 = creem_stand_in.subscription_event(bought.creem_id)
    creem_stand_in.renew(bought.creem_id)
    paid_3 = creem_stand_in.subscription_event(bought.creem_id)
    again_1 = creem_stand_in.subscription_event(  # the first period under another event id
        bought.creem_id, change={"last_transaction": _transaction_of(paid_1)}
    )
    for event in (paid_2, paid_1, paid_2, paid_3, again_1, paid_3):
        reply = await _send(sub_api, event)
        assert reply.status_code == 200, reply.text
    assert await credits_of(db, merchant) == 3
    assert await balance(sub_api, merchant) == start + 3 * credits
    shown = await _shown(sub_api, merchant)
    assert (shown["status"], shown["periods_paid"]) == ("active", 3)
    created = await events_of(db, merchant.merchant_id, "subscription.created")
    renewed = await events_of(db, merchant.merchant_id, "subscription.renewed")
    assert (len(created), len(renewed)) == (1, 2)
    await assert_ledger_balanced(db)


def _transaction_of(event: tuple[bytes, dict[str, str]]) -> Any:
    """The transaction an event carried (to report the same period again)."""
    return json.loads(event[0])["object"]["last_transaction"]


async def test_past_due_credits_nothing_until_paid_and_canceled_credits_no_more(
    sub_api: httpx.AsyncClient, db: Database, creem_stand_in: CreemStandIn, buy: Any
) -> None:
    bought = await buy()
    merchant = bought.merchant
    assert (await _send(sub_api, creem_stand_in.subscription_event(bought.creem_id))).is_success
    first = creem_stand_in.subscriptions[bought.creem_id]["last_transaction"]

    creem_stand_in.subscriptions[bought.creem_id]["status"] = "past_due"
    failed = creem_stand_in.subscription_event(bought.creem_id, "subscription.past_due")
    for _ in range(2):
        assert (await _send(sub_api, failed)).status_code == 200
    # The paid period reported again changes nothing: still past due, still one credit.
    again = creem_stand_in.subscription_event(bought.creem_id, change={"last_transaction": first})
    assert (await _send(sub_api, again)).status_code == 200
    assert (await _shown(sub_api, merchant))["status"] == "past_due"
    assert await credits_of(db, merchant) == 1
    assert len(await events_of(db, merchant.merchant_id, "subscription.past_due")) == 1

    creem_stand_in.renew(bought.creem_id)  # the card is fixed: the period is paid
    assert (await _send(sub_api, creem_stand_in.subscription_event(bought.creem_id))).is_success
    assert (await _shown(sub_api, merchant))["status"] == "active"
    assert await credits_of(db, merchant) == 2

    scheduled = creem_stand_in.subscription_event(bought.creem_id, "subscription.scheduled_cancel")
    assert (await _send(sub_api, scheduled)).status_code == 200
    assert (await _shown(sub_api, merchant))["cancel_at_period_end"] is True
    creem_stand_in.subscriptions[bought.creem_id]["status"] = "canceled"
    ended = creem_stand_in.subscription_event(bought.creem_id, "subscription.canceled")
    older = creem_stand_in.subscription_event(
        bought.creem_id, "subscription.active", created_ms=int(time.time() * 1000) - 60_000
    )
    for event in (ended, older, ended, again):
        assert (await _send(sub_api, event)).status_code == 200
    assert (await _shown(sub_api, merchant))["status"] == "canceled"
    assert await credits_of(db, merchant) == 2
    assert len(await events_of(db, merchant.merchant_id, "subscription.canceled")) == 1
    await assert_ledger_balanced(db)


async def test_forged_stale_and_other_merchants_reports_credit_nothing(
    sub_api: httpx.AsyncClient,
    db: Database,
    creem_stand_in: CreemStandIn,
    buy: Any,
    make_merchant: MakeMerchant,
) -> None:
    bought = await buy()
    merchant = bought.merchant
    other = await make_merchant("live")
    stale_ms = int(time.time() * 1000) - 4 * 3600 * 1000
    metadata = {**creem_stand_in.subscriptions[bought.creem_id]["metadata"]}
    refused = [
        (creem_stand_in.subscription_event(bought.creem_id, secret="whsec_forged"), 4404),
        (creem_stand_in.subscription_event(bought.creem_id, created_ms=stale_ms), 4404),
        (
            creem_stand_in.subscription_event(
                bought.creem_id,
                change={"metadata": {**metadata, "merchant_id": other.merchant_id}},
            ),
            4407,
        ),
    ]
    for event, code in refused:
        reply = await _send(sub_api, event)
        assert reply.status_code >= 400 and reply.json()["code"] == code, reply.text
    assert await credits_of(db, merchant) == 0
    assert await credits_of(db, other) == 0
    assert await _shown(sub_api, merchant) is None


async def test_a_channel_without_subscriptions_is_refused_for_one(
    sub_api: httpx.AsyncClient, make_plan: MakePlan, make_merchant: MakeMerchant
) -> None:
    plan = await make_plan()
    merchant = await make_merchant("live")
    for channel, code in (("epay", 4402), ("nowhere", 4324)):
        reply = await sub_api.post(
            "/payment/create-session",
            json={"channel": channel, "type": "subscription", "plan_id": plan["id"]},
            headers=merchant.headers,
        )
        assert reply.json()["code"] == code, reply.text


async def test_the_portal_is_creem_s_customer_portal(
    sub_api: httpx.AsyncClient, creem_stand_in: CreemStandIn, buy: Any
) -> None:
    bought = await buy()
    back = {"return_url": "https://merchant.example/back"}
    early = await sub_api.post("/subscription/portal", json=back, headers=bought.merchant.headers)
    # Not paid yet: no subscription to manage, and the open checkout to continue instead.
    assert early.json()["code"] == 4570, early.text
    assert early.json()["data"]["open_checkout"]["channel"] == "creem"
    assert (await _send(sub_api, creem_stand_in.subscription_event(bought.creem_id))).is_success
    reply = await sub_api.post("/subscription/portal", json=back, headers=bought.merchant.headers)
    assert reply.status_code == 200, reply.text
    customer = creem_stand_in.subscriptions[bought.creem_id]["customer"]
    assert reply.json()["data"] == {
        "url": f"{creem_stand_in.url}/portal/{customer}",
        "channel": "creem",
    }


async def test_lost_periods_are_found_among_the_customer_s_transactions(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    creem_stand_in: CreemStandIn,
    buy: Any,
) -> None:
    bought = await buy()  # every report of the first period lost: found through its checkout
    merchant = bought.merchant
    soon = utcnow() + timedelta(seconds=stripe_stood_in_settings.reconcile_after_seconds + 1)
    swept = await subscription_channels.sweep(db, stripe_stood_in_settings, now=soon)
    mine = [o for o in swept if o.data["subscription_id"] == bought.data["subscription_id"]]
    assert [o.data["credited"] for o in mine] == [1]
    assert (await _shown(sub_api, merchant))["status"] == "active"

    creem_stand_in.renew(bought.creem_id)
    creem_stand_in.renew(bought.creem_id)
    last = creem_stand_in.subscription_event(bought.creem_id)  # both renewals' reports lost
    assert await credits_of(db, merchant) == 1
    later = utcnow() + timedelta(days=400)  # past any period's end
    for expected in ([2], [0]):  # however often it runs
        swept = await subscription_channels.sweep(db, stripe_stood_in_settings, now=later)
        mine = [o for o in swept if o.data["subscription_id"] == bought.data["subscription_id"]]
        assert [o.data["credited"] for o in mine] == expected
    assert (await _send(sub_api, last)).status_code == 200  # late: credits nothing
    assert await credits_of(db, merchant) == 3
    assert (await _shown(sub_api, merchant))["periods_paid"] == 3
    await assert_ledger_balanced(db)


async def test_one_period_reported_concurrently_under_many_event_ids_credits_once(
    sub_api: httpx.AsyncClient, db: Database, creem_stand_in: CreemStandIn, buy: Any
) -> None:
    bought = await buy()
    events = [creem_stand_in.subscription_event(bought.creem_id) for _ in range(8)]
    replies = await asyncio.gather(*(_send(sub_api, e) for e in events + events))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert await credits_of(db, bought.merchant) == 1
    await assert_ledger_balanced(db)


async def test_staging_subscribes_through_the_sandbox_whichever_channel_is_named(
    sub_api: httpx.AsyncClient,
    sub_admin: httpx.AsyncClient,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    plan = await make_plan("staging")
    merchant = await make_merchant("staging")
    body = {"channel": "creem", "type": "subscription", "plan_id": plan["id"]}
    saved = await sub_admin.put("/billing/channels/creem/staging", json={"enabled": False})
    assert saved.status_code == 200, saved.text
    off = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    assert off.json()["code"] == 4400, off.text
    saved = await sub_admin.put("/billing/channels/creem/staging", json={"enabled": True})
    assert saved.status_code == 200, saved.text
    reply = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    assert reply.status_code == 201, reply.text
    data = reply.json()["data"]
    assert data["channel"] == "sandbox" and "/subscription/sandbox/" in data["url"]
