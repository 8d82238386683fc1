"""Staging subscriptions: bought on the sandbox checkout, renewed by ``renew_due`` at a time
passed in (as the staging test clock will), each period credited once however often and however
concurrently it runs; the tester's failing card makes the subscription past due with no credit
until the card pays; canceled at period end, it ends there. The sandbox portal changes plan,
cancels and resumes. On SQLite and PostgreSQL."""

import asyncio
import re
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, text

from gateway.billing.channels.providers.sandbox import add_interval
from gateway.billing.subscriptions import renewals as subscription_channels
from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.clock import utcnow
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.rows import row_counts
from tests.fixtures.subscriptions import MakePlan, balance, bought_in_sandbox, credits_of
from tests.fixtures.webhooks import events_of, make_endpoint

JSON = {"Accept": "application/json"}


async def _period_end(api: httpx.AsyncClient, merchant: MerchantKey) -> datetime:
    reply = await api.get("/subscription", headers=merchant.headers)
    shown = reply.json()["data"]["subscription"]
    return datetime.fromisoformat(shown["current_period_end"].replace("Z", "+00:00"))


async def _portal(api: httpx.AsyncClient, merchant: MerchantKey) -> httpx.URL:
    reply = await api.post(
        "/subscription/portal",
        json={"return_url": "https://merchant.example/back"},
        headers=merchant.headers,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["channel"] == "sandbox"
    return httpx.URL(reply.json()["data"]["url"])


async def _act(
    api: httpx.AsyncClient, portal: httpx.URL, action: str, **form: str
) -> httpx.Response:
    return await api.post(
        f"{portal.path.removeprefix('/api/public/v1')}/{action}",
        params=portal.params,
        data=form,
        headers=JSON,
    )


async def test_renewals_credit_each_period_once_however_often_they_run(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    merchant, plan, _ = await bought_in_sandbox(
        sub_api, make_plan, make_merchant, credits_included=700
    )
    start = await balance(sub_api, merchant)
    assert await credits_of(db, merchant) == 1
    first_end = await _period_end(sub_api, merchant)

    # Before the period ends: nothing.
    early = await subscription_channels.renew_due(
        db, merchant.merchant_id, "staging", first_end - timedelta(seconds=1)
    )
    assert early.deliveries == [] and await credits_of(db, merchant) == 1

    # Two periods on, asked five times at once: two credits.
    two_on = add_interval(first_end, "month") + timedelta(seconds=1)
    await asyncio.gather(
        *(
            subscription_channels.renew_due(db, merchant.merchant_id, "staging", two_on)
            for _ in range(5)
        )
    )
    assert await credits_of(db, merchant) == 3
    assert await balance(sub_api, merchant) == start + 2 * plan["credits_included"]
    again = await subscription_channels.renew_due(db, merchant.merchant_id, "staging", two_on)
    assert again.deliveries == [] and await credits_of(db, merchant) == 3
    assert await _period_end(sub_api, merchant) == add_interval(
        add_interval(first_end, "month"), "month"
    )
    assert len(await events_of(db, merchant.merchant_id, "subscription.created")) == 1
    assert len(await events_of(db, merchant.merchant_id, "subscription.renewed")) == 2
    await assert_ledger_balanced(db)


async def test_a_failing_card_makes_it_past_due_and_credits_nothing_until_it_pays(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    merchant, _, _ = await bought_in_sandbox(sub_api, make_plan, make_merchant)
    portal = await _portal(sub_api, merchant)
    page = await sub_api.get(portal.path.removeprefix("/api/public/v1"), params=portal.params)
    assert page.status_code == 200 and "Make the card fail" in page.text
    assert (await _act(sub_api, portal, "card", fails="1")).status_code == 200

    due = await _period_end(sub_api, merchant) + timedelta(seconds=1)
    for _ in range(3):
        await subscription_channels.renew_due(db, merchant.merchant_id, "staging", due)
    shown = (await sub_api.get("/subscription", headers=merchant.headers)).json()["data"]
    assert shown["subscription"]["status"] == "past_due"
    assert await credits_of(db, merchant) == 1
    assert len(await events_of(db, merchant.merchant_id, "subscription.past_due")) == 1
    listed = (await sub_api.get("/subscription/invoices", headers=merchant.headers)).json()
    assert [p["status"] for p in listed["data"]] == ["failed", "paid"]
    assert listed["data"][0]["period_start"] == listed["data"][1]["period_end"]

    assert (await _act(sub_api, portal, "card", fails="0")).status_code == 200
    await subscription_channels.renew_due(db, merchant.merchant_id, "staging", due)
    shown = (await sub_api.get("/subscription", headers=merchant.headers)).json()["data"]
    assert shown["subscription"]["status"] == "active"
    assert await credits_of(db, merchant) == 2
    # The period that failed is the one paid now: listed once, paid.
    again = (await sub_api.get("/subscription/invoices", headers=merchant.headers)).json()
    assert [(p["id"], p["status"]) for p in again["data"]] == [
        (listed["data"][0]["id"], "paid"),
        (listed["data"][1]["id"], "paid"),
    ]


async def test_canceled_at_period_end_it_ends_there_and_resume_undoes_it(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    merchant, plan, _ = await bought_in_sandbox(sub_api, make_plan, make_merchant)
    bigger = await make_plan("staging", name="Bigger", credits_included=5000)
    portal = await _portal(sub_api, merchant)

    changed = await _act(sub_api, portal, "change", plan_id=bigger["id"], interval="year")
    assert changed.status_code == 200, changed.text
    assert changed.json()["code"] == 1141
    assert changed.json()["data"]["plan"]["id"] == bigger["id"]
    assert (await _act(sub_api, portal, "cancel")).json()["data"]["cancel_at_period_end"]
    resumed = await _act(sub_api, portal, "resume")
    assert resumed.json()["data"]["cancel_at_period_end"] is False
    assert (await _act(sub_api, portal, "cancel")).status_code == 200

    later = await _period_end(sub_api, merchant) + timedelta(days=800)
    done = await subscription_channels.renew_due(db, merchant.merchant_id, "staging", later)
    assert done.code == 1000
    shown = (await sub_api.get("/subscription", headers=merchant.headers)).json()["data"]
    assert shown["subscription"]["status"] == "canceled"
    assert await credits_of(db, merchant) == 1
    assert len(await events_of(db, merchant.merchant_id, "subscription.canceled")) == 1
    refused = await _act(sub_api, portal, "resume")
    assert (refused.status_code, refused.json()["code"]) == (409, 4326)

    # Its place is free: the merchant subscribes again.
    again = await sub_api.post(
        "/payment/create-session",
        json={"channel": "sandbox", "type": "subscription", "plan_id": plan["id"]},
        headers=merchant.headers,
    )
    assert again.status_code == 201, again.text


async def test_concurrent_sessions_hold_one_place_and_an_abandoned_checkout_gives_it_back(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    plan = await make_plan("staging")
    merchant = await make_merchant("staging")
    body = {"channel": "stripe", "type": "subscription", "plan_id": plan["id"]}
    replies = await asyncio.gather(
        *(sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
          for _ in range(10))
    )  # fmt: skip
    codes = sorted(r.json()["code"] for r in replies)
    # A loser that read the open checkout says so (4570); one that lost the write, 4322.
    assert codes[0] == 1004 and set(codes[1:]) <= {4322, 4570} and len(codes) == 10, codes

    [made] = [r.json()["data"] for r in replies if r.status_code == 201]
    url = httpx.URL(made["url"])
    cancelled = await sub_api.post(
        f"/subscription/sandbox/{made['subscription_id']}/cancel", params=url.params, headers=JSON
    )
    assert cancelled.status_code == 200, cancelled.text
    pay_late = await sub_api.post(
        f"/subscription/sandbox/{made['subscription_id']}/pay", params=url.params, headers=JSON
    )
    assert (pay_late.status_code, pay_late.json()["code"]) == (409, 4326)
    assert await credits_of(db, merchant) == 0
    forged = await sub_api.get(
        f"/subscription/sandbox/{made['subscription_id']}", params={"token": "0" * 64}
    )
    assert forged.status_code == 404 and forged.json()["code"] == 4323

    fresh = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    assert fresh.status_code == 201, fresh.text
    assert re.fullmatch(r"sub_\w{24}", fresh.json()["data"]["subscription_id"])


async def test_renewals_before_now_are_the_callers_time_not_the_walls(
    db: Database,
    sub_api: httpx.AsyncClient,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    merchant, _, _ = await bought_in_sandbox(sub_api, make_plan, make_merchant)
    done = await subscription_channels.renew_due(db, merchant.merchant_id, "staging", utcnow())
    assert done.data == {"subscriptions": []}
    assert await credits_of(db, merchant) == 1


async def _advance(api: httpx.AsyncClient, merchant: MerchantKey, days: int) -> datetime:
    moved = await api.post(
        "/sandbox/clock/advance", json={"seconds": days * 86_400}, headers=merchant.headers
    )
    assert moved.status_code == 200, moved.text
    return datetime.fromisoformat(moved.json()["data"]["now"])


async def test_the_test_clock_renews_three_periods_once_each_and_a_cancel_stops_the_fourth(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    merchant, plan, _ = await bought_in_sandbox(
        sub_api, make_plan, make_merchant, credits_included=900
    )
    start = await balance(sub_api, merchant)
    ends = [await _period_end(sub_api, merchant)]
    for _ in range(3):
        ends.append(add_interval(ends[-1], "month"))
    # A month and a bit at a time, three times: each advance renews the period it passed.
    for period in range(1, 4):
        now = await _advance(sub_api, merchant, 32)
        assert ends[period - 1] <= now < ends[period] + timedelta(days=32)
        assert await credits_of(db, merchant) == 1 + period
    assert await balance(sub_api, merchant) == start + 3 * plan["credits_included"]
    assert len(await events_of(db, merchant.merchant_id, "subscription.renewed")) == 3
    # Each paid period took a number of staging's series as it was paid, in order.
    async with db.read() as conn:
        numbered = (
            await conn.execute(
                text(
                    "SELECT reference, number FROM receipts WHERE merchant_id = :m ORDER BY number"
                ),
                {"m": merchant.merchant_id},
            )
        ).all()
    assert [r.reference.rsplit("_", 1)[1] for r in numbered] == ["1", "2", "3", "4"]
    assert len({r.number for r in numbered}) == 4
    # The worker's sweep credits no period twice.
    await subscription_channels.renewals(db)
    assert await credits_of(db, merchant) == 4

    portal = await _portal(sub_api, merchant)
    assert (await _act(sub_api, portal, "cancel")).status_code == 200
    await _advance(sub_api, merchant, 40)
    shown = (await sub_api.get("/subscription", headers=merchant.headers)).json()["data"]
    assert shown["subscription"]["status"] == "canceled"
    assert await credits_of(db, merchant) == 4
    await assert_ledger_balanced(db)


async def test_a_renewal_by_the_test_clock_is_delivered_by_the_real_one(
    sub_api: httpx.AsyncClient,
    hook_client: httpx.AsyncClient,
    db: Database,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    """The renewal's events are dated by the test clock (their business date), yet their
    deliveries, and every row the runner leases for them, are due now, not when the real date
    reaches the clock's."""
    merchant, _, _ = await bought_in_sandbox(sub_api, make_plan, make_merchant)
    await make_endpoint(hook_client, merchant, "http://127.0.0.1:9/hook")
    before = utcnow()
    clock = await _advance(sub_api, merchant, 32)
    after = utcnow()
    [renewed] = await events_of(db, merchant.merchant_id, "subscription.renewed")
    assert datetime.fromisoformat(renewed["created"]) > after + timedelta(days=31)
    assert abs(datetime.fromisoformat(renewed["created"]) - clock) < timedelta(seconds=2)
    deliveries = table_of(WebhookDelivery)
    async with db.read() as conn:
        due = (
            await conn.execute(
                select(
                    deliveries.c.event_type,
                    deliveries.c.next_attempt_at,
                    deliveries.c.created_at,
                ).where(
                    deliveries.c.merchant_id == merchant.merchant_id,
                    deliveries.c.created_at >= before - timedelta(seconds=1),
                )
            )
        ).all()
    assert "subscription.renewed" in {row.event_type for row in due}
    for row in due:
        assert row.next_attempt_at <= after + timedelta(seconds=1), row
        assert row.created_at <= after + timedelta(seconds=1), row


async def test_the_sweep_renews_by_each_merchants_own_clock(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    ahead, _, _ = await bought_in_sandbox(sub_api, make_plan, make_merchant)
    behind, _, _ = await bought_in_sandbox(sub_api, make_plan, make_merchant)
    # Moved by a day less than a period: nothing is due yet, by either clock.
    await _advance(sub_api, ahead, 26)
    await subscription_channels.renewals(db)
    assert (await credits_of(db, ahead), await credits_of(db, behind)) == (1, 1)
    # The period ends by the merchant's own clock between two advances: the sweep finds it
    # (moved here as a clock's offset is, without the advance's own renewal).
    async with db.transaction() as conn:
        await conn.execute(
            text("UPDATE sandbox_clocks SET offset_seconds = :s WHERE merchant_id = :m"),
            {"s": 40 * 86_400, "m": ahead.merchant_id},
        )
    await subscription_channels.renewals(db)
    assert (await credits_of(db, ahead), await credits_of(db, behind)) == (2, 1)


async def test_a_nul_in_the_portal_s_form_is_refused_and_changes_nothing(
    sub_api: httpx.AsyncClient,
    db: Database,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    """PostgreSQL cannot store or look up a NUL (a plan id with one answered 500 there)."""
    merchant, _, _ = await bought_in_sandbox(sub_api, make_plan, make_merchant)
    portal = await _portal(sub_api, merchant)
    before = await row_counts(db)
    refused = await _act(sub_api, portal, "change", plan_id="plan_\x00", interval="year")
    assert (refused.status_code, refused.json()["code"]) == (400, 3103), refused.text
    assert await row_counts(db) == before
