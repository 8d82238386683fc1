"""Subscriptions through the stood-in Stripe, driven by the ``stripe`` package: bought through
``/payment/create-session``, each paid invoice credited exactly once whatever Stripe's events do
(duplicated, reordered, lost and found by the reconciliation sweep, delivered concurrently),
canceled at period end with no further credit, past due with none until paid; forged, replayed
and stale events refused. On SQLite and PostgreSQL."""

import asyncio
import json
import time
from datetime import timedelta

import httpx
from sqlalchemy import select

from gateway.billing.subscriptions import renewals
from gateway.store.engine import Database
from gateway.store.models import PaymentNotice, Subscription, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.stripe import StripeStandIn
from tests.fixtures.subscriptions import MakePlan, Subscribe, balance, credits_of, post_event
from tests.fixtures.webhooks import events_of

_E = table_of(PaymentNotice)
_S = table_of(Subscription)


async def _sweep(db: Database, settings: Settings) -> int:
    """The reconciliation sweep, as the worker runs it, a day on (past any period's end):
    how many periods it credited."""
    later = utcnow() + timedelta(days=400)
    found = await renewals.sweep(db, settings, now=later)
    return sum(o.data["credited"] for o in found)


async def _subscription(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    reply = await api.get("/subscription", headers=headers)
    assert reply.status_code == 200, reply.text
    found: dict[str, object] = reply.json()["data"]["subscription"]
    return found


async def test_three_paid_invoices_credit_three_times_whatever_the_events_do(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    subscribe: Subscribe,
) -> None:
    bought = await subscribe()
    merchant = bought.merchant
    start = await balance(sub_api, merchant)
    assert await _subscription(sub_api, merchant.headers) is None  # not paid yet

    # The first invoice's event comes before the checkout's, and twice over; the checkout's
    # too, and Stripe's own duplicate delivery (the same event id) once more.
    paid_1 = stripe_stand_in.event("invoice.paid", bought.first_invoice)
    completed = stripe_stand_in.event("checkout.session.completed", bought.session)
    for payload in (paid_1, completed, paid_1, completed):
        reply = await post_event(sub_api, payload)
        assert reply.status_code == 200, reply.text
    again = stripe_stand_in.event("invoice.payment_succeeded", bought.first_invoice)
    assert (await post_event(sub_api, again)).json()["data"]["outcome"] == "duplicate"
    assert await credits_of(db, merchant) == 1

    # The second period: its subscription.updated before its invoice, the invoice twice.
    invoice_2 = stripe_stand_in.renew(bought.stripe_subscription["id"])
    updated = stripe_stand_in.event(
        "customer.subscription.updated", stripe_stand_in.subscriptions[invoice_2["parent"]
        ["subscription_details"]["subscription"]]
    )  # fmt: skip
    for payload in (updated, stripe_stand_in.event("invoice.paid", invoice_2)) * 2:
        assert (await post_event(sub_api, payload)).status_code == 200

    # The third period's invoice.paid is lost: the sweep finds it, once however often it runs.
    invoice_3 = stripe_stand_in.renew(bought.stripe_subscription["id"])
    assert await credits_of(db, merchant) == 2
    assert await _sweep(db, stripe_stood_in_settings) == 1
    assert await _sweep(db, stripe_stood_in_settings) == 0
    late = await post_event(sub_api, stripe_stand_in.event("invoice.paid", invoice_3))
    assert late.json()["data"]["outcome"] == "duplicate"

    credits = bought.plan["credits_included"]
    assert await credits_of(db, merchant) == 3
    assert await balance(sub_api, merchant) == start + 3 * credits
    created = await events_of(db, merchant.merchant_id, "subscription.created")
    renewed = await events_of(db, merchant.merchant_id, "subscription.renewed")
    assert (len(created), len(renewed)) == (1, 2)
    assert created[0]["data"]["credit_cents"] == credits
    assert {e["data"]["invoice_id"] for e in [*created, *renewed]} == {
        bought.first_invoice["id"],
        invoice_2["id"],
        invoice_3["id"],
    }
    shown = await _subscription(sub_api, merchant.headers)
    assert shown is not None
    assert (shown["status"], shown["interval"], shown["periods_paid"]) == ("active", "month", 3)
    end = invoice_3["lines"]["data"][0]["period"]["end"]
    assert shown["current_period_end"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    held = await sub_api.get("/balance", headers=merchant.headers)
    assert held.json()["data"]["subscription"]["plan"]["id"] == bought.plan["id"]
    # One period, one receipt number each, whatever the events did; each starts as the one
    # before it ended.
    listed = await sub_api.get("/subscription/invoices", headers=merchant.headers)
    periods = listed.json()["data"][::-1]
    assert [p["id"] for p in periods] == [
        bought.first_invoice["id"],
        invoice_2["id"],
        invoice_3["id"],
    ]
    assert len({p["receipt_number"] for p in periods}) == 3
    assert all(p["receipt_number"].startswith("LIVE-") for p in periods)
    assert [p["period_start"] for p in periods[1:]] == [p["period_end"] for p in periods[:-1]]
    assert periods[-1]["period_end"] == shown["current_period_end"]
    await assert_ledger_balanced(db)


async def test_canceled_at_period_end_no_further_credit(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    subscribe: Subscribe,
) -> None:
    bought = await subscribe("year")
    merchant = bought.merchant
    stripe_id = bought.stripe_subscription["id"]
    await post_event(sub_api, stripe_stand_in.event("invoice.paid", bought.first_invoice))
    canceling = stripe_stand_in.cancel_at_period_end(stripe_id)
    await post_event(sub_api, stripe_stand_in.event("customer.subscription.updated", canceling))
    shown = await _subscription(sub_api, merchant.headers)
    assert shown is not None
    assert (shown["status"], shown["cancel_at_period_end"], shown["interval"]) == (
        "active",
        True,
        "year",
    )

    ended = stripe_stand_in.end(stripe_id)
    reply = await post_event(sub_api, stripe_stand_in.event("customer.subscription.deleted", ended))
    assert reply.status_code == 200
    # An older update arriving after the end changes nothing: canceled is final.
    stale = dict(canceling, status="active")
    await post_event(
        sub_api, stripe_stand_in.event("customer.subscription.updated", stale, created=1)
    )
    assert await _sweep(db, stripe_stood_in_settings) == 0

    shown = await _subscription(sub_api, merchant.headers)
    assert shown is not None and shown["status"] == "canceled"
    assert await credits_of(db, merchant) == 1
    assert len(await events_of(db, merchant.merchant_id, "subscription.canceled")) == 1
    # The place is free again.
    portal = await sub_api.post(
        "/subscription/portal", json={"return_url": "https://merchant.example/back"},
        headers=merchant.headers,
    )  # fmt: skip
    assert (portal.status_code, portal.json()["code"]) == (404, 4323)


async def test_past_due_credits_nothing_until_paid(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    subscribe: Subscribe,
) -> None:
    bought = await subscribe()
    merchant = bought.merchant
    stripe_id = bought.stripe_subscription["id"]
    await post_event(sub_api, stripe_stand_in.event("invoice.paid", bought.first_invoice))

    failed = stripe_stand_in.renew(stripe_id, paid=False)
    for payload in (
        stripe_stand_in.event("invoice.payment_failed", failed),
        stripe_stand_in.event(
            "customer.subscription.updated", stripe_stand_in.subscriptions[stripe_id]
        ),
        stripe_stand_in.event("invoice.payment_failed", failed),
    ):
        assert (await post_event(sub_api, payload)).status_code == 200
    shown = await _subscription(sub_api, merchant.headers)
    assert shown is not None and shown["status"] == "past_due"
    assert await credits_of(db, merchant) == 1
    [past_due] = await events_of(db, merchant.merchant_id, "subscription.past_due")
    assert past_due["data"]["status"] == "past_due"
    # Listed once as failed, with what the invoice asked, and no receipt.
    periods = (await sub_api.get("/subscription/invoices", headers=merchant.headers)).json()
    assert [(p["id"], p["status"]) for p in periods["data"]] == [
        (failed["id"], "failed"),
        (bought.first_invoice["id"], "paid"),
    ]
    unpaid = periods["data"][0]
    assert (unpaid["amount_cents"], unpaid["credit_cents"]) == (failed["amount_due"], 0)
    assert (unpaid["receipt_number"], unpaid["receipt_url"], unpaid["paid_at"]) == (None,) * 3
    assert unpaid["failed_at"] is not None
    no_receipt = await sub_api.get(
        f"/subscription/invoices/{failed['id']}/receipt", headers=merchant.headers
    )
    assert (no_receipt.status_code, no_receipt.json()["code"]) == (404, 4360)

    paid = stripe_stand_in.pay_open_invoice(failed["id"])
    await post_event(sub_api, stripe_stand_in.event("invoice.paid", paid))
    shown = await _subscription(sub_api, merchant.headers)
    assert shown is not None and shown["status"] == "active"
    assert await credits_of(db, merchant) == 2
    assert len(await events_of(db, merchant.merchant_id, "subscription.renewed")) == 1
    # The same invoice, paid: one period, paid, with its receipt.
    periods = (await sub_api.get("/subscription/invoices", headers=merchant.headers)).json()
    assert periods["meta"]["total"] == 2
    newest = periods["data"][0]
    assert (newest["id"], newest["status"]) == (failed["id"], "paid")
    assert newest["receipt_number"].startswith("LIVE-")


async def test_concurrent_deliveries_of_one_paid_invoice_credit_it_once(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    subscribe: Subscribe,
) -> None:
    bought = await subscribe()
    merchant = bought.merchant
    start = await balance(sub_api, merchant)
    same = stripe_stand_in.event("invoice.paid", bought.first_invoice)
    others = [stripe_stand_in.event("invoice.paid", bought.first_invoice) for _ in range(8)]
    replies = await asyncio.gather(*(post_event(sub_api, p) for p in [same] * 8 + others))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    outcomes = sorted(r.json()["data"]["outcome"] for r in replies)
    assert outcomes.count("credited") == 1, outcomes
    assert await credits_of(db, merchant) == 1
    assert await balance(sub_api, merchant) == start + bought.plan["credits_included"]
    await assert_ledger_balanced(db)


async def test_forged_replayed_and_stale_subscription_events_are_refused(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    subscribe: Subscribe,
) -> None:
    bought = await subscribe()
    merchant = bought.merchant
    payload = stripe_stand_in.event("invoice.paid", bought.first_invoice)
    event_id = json.loads(payload)["id"]

    forged = await post_event(sub_api, payload, secret="whsec_not_the_secret")
    stale = await post_event(sub_api, payload, timestamp=int(time.time()) - 3600)
    future = await post_event(sub_api, payload, timestamp=int(time.time()) + 3600)
    unsigned = await sub_api.post("/payment/webhook/stripe", content=payload)
    for refused in (forged, stale, future, unsigned):
        assert (refused.status_code, refused.json()["code"]) == (400, 4120), refused.text
        assert refused.json()["success"] is False
    async with db.read() as conn:
        found = select(_E.c.event_id).where(_E.c.event_id == event_id)
        assert (await conn.execute(found)).first() is None
    assert await credits_of(db, merchant) == 0

    first = await post_event(sub_api, payload)
    replayed = await post_event(sub_api, payload)
    assert first.json()["data"]["outcome"] == "credited"
    assert replayed.json()["data"]["outcome"] == "duplicate"
    assert await credits_of(db, merchant) == 1


async def test_one_subscription_per_merchant_and_environment_even_racing(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    """Ten concurrent sessions for one live merchant: each that finds the place free opens a
    Stripe checkout before writing (never inside a transaction), so several may be opened; the
    unique index on the place (``ix_subscriptions_holder``) lets one subscription hold it, and
    only its checkout's URL is handed out."""
    plan = await make_plan()
    merchant = await make_merchant("live")
    body = {"channel": "stripe", "type": "subscription", "plan_id": plan["id"]}
    replies = await asyncio.gather(
        *(sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
          for _ in range(10))
    )  # fmt: skip
    codes = sorted(r.json()["code"] for r in replies)
    # A loser that read the open checkout says so (4570); one that lost the write, 4322.
    assert codes[0] == 1004 and set(codes[1:]) <= {4322, 4570} and len(codes) == 10, codes
    [made] = [r.json()["data"] for r in replies if r.status_code == 201]

    async with db.read() as conn:
        rows = (
            await conn.execute(select(_S).where(_S.c.merchant_id == merchant.merchant_id))
        ).all()
    [row] = rows
    assert (row.id, row.env, row.status) == (made["subscription_id"], "live", "incomplete")
    assert row.provider_session_id == made["session_id"]
    opened = [
        s for s in stripe_stand_in.sessions.values()
        if s["metadata"].get("merchant_id") == merchant.merchant_id
    ]  # fmt: skip
    assert 1 <= len(opened) <= 10
    # Each checkout names its own subscription; those of the requests that lost were never
    # written (the one row above), and their URLs were never handed out.
    named = {s["client_reference_id"]: s["id"] for s in opened}
    assert len(named) == len(opened) and named[row.id] == made["session_id"]

    # Its checkout is open: the place is held (4570, with where to continue); paid, it is
    # held still.
    held = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    assert (held.status_code, held.json()["code"]) == (409, 4570)
    assert held.json()["data"]["open_checkout"]["url"] == made["url"]
    session = stripe_stand_in.sessions[made["session_id"]]
    _, invoice = stripe_stand_in.subscribe(session["id"])
    assert (await post_event(sub_api, stripe_stand_in.event("invoice.paid", invoice))).is_success
    held = await sub_api.post("/payment/create-session", json=body, headers=merchant.headers)
    assert (held.status_code, held.json()["code"]) == (409, 4322)
    assert await credits_of(db, merchant) == 1


async def test_the_portal_opens_at_stripe_for_the_subscriptions_customer(
    sub_api: httpx.AsyncClient,
    stripe_stand_in: StripeStandIn,
    subscribe: Subscribe,
) -> None:
    bought = await subscribe()
    merchant = bought.merchant
    await post_event(sub_api, stripe_stand_in.event("invoice.paid", bought.first_invoice))
    await post_event(sub_api, stripe_stand_in.event("checkout.session.completed", bought.session))
    portal = await sub_api.post(
        "/subscription/portal",
        json={"return_url": "https://merchant.example/back"},
        headers=merchant.headers,
    )
    assert portal.status_code == 200, portal.text
    url = portal.json()["data"]["url"]
    [made] = [p for p in stripe_stand_in.portals.values() if p["url"] == url]
    assert made["customer"] == bought.session["customer"]
    assert made["return_url"] == "https://merchant.example/back"


async def test_the_workers_sweep_credits_a_first_period_whose_events_were_all_lost(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    subscribe: Subscribe,
) -> None:
    from types import SimpleNamespace

    from worker.reconcile import reconcile_orders

    bought = await subscribe()
    woken: list[str] = []
    deps = SimpleNamespace(db=db, settings=stripe_stood_in_settings, wake=woken.extend)
    assert await reconcile_orders({"deps": deps}) >= 1
    assert await credits_of(db, bought.merchant) == 1
    shown = await _subscription(sub_api, bought.merchant.headers)
    assert shown is not None and shown["status"] == "active"
    await reconcile_orders({"deps": deps})
    assert await credits_of(db, bought.merchant) == 1


async def test_an_older_failure_after_a_later_payment_leaves_it_active(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    subscribe: Subscribe,
) -> None:
    bought = await subscribe()
    merchant = bought.merchant
    stripe_id = bought.stripe_subscription["id"]
    await post_event(sub_api, stripe_stand_in.event("invoice.paid", bought.first_invoice))
    failed = stripe_stand_in.renew(stripe_id, paid=False)
    now = int(time.time())
    failure = stripe_stand_in.event("invoice.payment_failed", failed, created=now - 60)
    paid = stripe_stand_in.pay_open_invoice(failed["id"])
    # Stripe's retry paid it a minute after the failure; the failure's event comes last.
    await post_event(sub_api, stripe_stand_in.event("invoice.paid", paid, created=now))
    await post_event(sub_api, failure)
    shown = await _subscription(sub_api, merchant.headers)
    assert shown is not None and shown["status"] == "active"
    assert await credits_of(db, merchant) == 2
    assert await events_of(db, merchant.merchant_id, "subscription.past_due") == []


async def test_stripe_refusing_the_session_leaves_nothing_behind(
    sub_api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    make_plan: MakePlan,
    make_merchant: MakeMerchant,
) -> None:
    plan = await make_plan()
    stripe_stand_in.prices.pop(plan["stripe_price_monthly_id"])
    merchant = await make_merchant("live")
    reply = await sub_api.post(
        "/payment/create-session",
        json={"channel": "stripe", "type": "subscription", "plan_id": plan["id"]},
        headers=merchant.headers,
    )
    assert (reply.status_code, reply.json()["code"]) == (502, 4107), reply.text
    assert await _subscription(sub_api, merchant.headers) is None
    yearly = await sub_api.post(
        "/payment/create-session",
        json={
            "channel": "stripe",
            "type": "subscription",
            "plan_id": plan["id"],
            "interval": "year",
        },
        headers=merchant.headers,
    )
    assert yearly.status_code == 201, yearly.text  # the first left no place held
