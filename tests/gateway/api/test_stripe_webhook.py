"""Stripe's webhook: verified with Stripe's scheme, credited exactly once per paid order."""

import asyncio
import json
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import func, select, update

from gateway.billing import orders as billing_orders
from gateway.billing.channels.registry import STRIPE
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, PaymentNotice, table_of
from gateway.values.clock import utcnow
from tests.fixtures import channels
from tests.fixtures.billing import STRIPE_API, stripe_headers
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.webhooks import events_of

WEBHOOK = "/payments/stripe/webhook"


async def live_order(
    client: httpx.AsyncClient,
    merchant: MerchantKey,
    pack_id: str = "pack_pro",
    *,
    coupon: str | None = None,
) -> tuple[str, str]:
    """A pending live order made through checkout; ``(order id, session id)``."""
    session_id = f"cs_test_{uuid.uuid4().hex}"
    body = {
        "pack_id": pack_id,
        "success_url": "https://m.example/ok",
        "cancel_url": "https://m.example/no",
    }
    if coupon is not None:
        body["coupon"] = coupon
    with respx.mock(assert_all_called=True) as stripe_api:
        stripe_api.post(f"{STRIPE_API}/v1/checkout/sessions").respond(
            200,
            json={"id": session_id, "object": "checkout.session", "url": "https://pay.example"},
        )
        reply = await client.post("/billing/checkout", json=body, headers=merchant.headers)
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]["order_id"], session_id


def session_event(
    order_id: str,
    session_id: str,
    *,
    type_: str = "checkout.session.completed",
    amount: int = 2000,
    currency: str = "usd",
    payment_status: str = "paid",
    event_id: str | None = None,
) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "type": type_,
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "amount_total": amount,
                    "currency": currency,
                    "client_reference_id": order_id,
                    "metadata": {"order_id": order_id},
                    "mode": "payment",
                    "payment_status": payment_status,
                    "status": "complete",
                }
            },
        }
    )


async def post_event(
    client: httpx.AsyncClient, payload: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        WEBHOOK, content=payload.encode(), headers=headers or stripe_headers(payload)
    )


async def balance(client: httpx.AsyncClient, merchant: MerchantKey) -> int:
    reply = await client.get("/balance", headers=merchant.headers)
    value: int = reply.json()["data"]["balance_cents"]
    return value


async def order_status(client: httpx.AsyncClient, merchant: MerchantKey) -> str:
    reply = await client.get("/billing/history", headers=merchant.headers)
    status: str = reply.json()["data"][0]["status"]
    return status


async def stripe_event_count(db: Database) -> int:
    async with db.read() as conn:
        count = (
            await conn.execute(
                select(func.count()).where(table_of(PaymentNotice).c.channel == STRIPE)
            )
        ).scalar_one()
    return int(count)


async def test_paid_session_credits_once(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant)
    payload = session_event(order_id, session_id)

    reply = await post_event(billing_client, payload)
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["outcome"] == "credited"
    assert await balance(billing_client, merchant) == 2500
    assert await order_status(billing_client, merchant) == "completed"

    again = await post_event(billing_client, payload)
    assert (again.status_code, again.json()["data"]["outcome"]) == (200, "duplicate")
    # Another event for the same order (Stripe sends both for some payments): still once.
    late = session_event(order_id, session_id, type_="checkout.session.async_payment_succeeded")
    other = await post_event(billing_client, late)
    assert other.json()["data"]["outcome"] == "already_completed"
    assert await balance(billing_client, merchant) == 2500

    [event] = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert event["env"] == "live"
    assert event["data"] == {
        "env": "live",
        "amount_cents": 2500,
        "balance_cents": 2500,
        "currency": "USD",
        "source": "checkout",
        "reference": order_id,
        "description": "Pro pack (25,000 credits)",
    }
    paid = await channels.paid_once(db, merchant.merchant_id, order_id, 2500)
    receipt = await billing_client.get(f"/orders/{order_id}/receipt", headers=merchant.headers)
    assert paid == {
        "order_id": order_id,
        "env": "live",
        "kind": "checkout",
        "provider": "stripe",
        "channel": "stripe",
        "pack_id": "pack_pro",
        "credits": 25_000,
        "credit_cents": 2500,
        "amount_cents": 2000,
        "currency": "USD",
        "charge_minor": None,
        "charge_currency": None,
        "charge_rate": None,
        "receipt_number": receipt.json()["data"]["receipt_number"],
        "paid_at": receipt.json()["data"]["paid_at"],
    }
    ledger = await billing_client.get("/billing/transactions", headers=merchant.headers)
    [entry] = ledger.json()["data"]
    assert (entry["type"], entry["amount_cents"], entry["reference"]) == (
        "checkout",
        2500,
        order_id,
    )
    await assert_ledger_balanced(db)


@pytest.mark.both_stores
async def test_same_event_ten_times_concurrently_credits_once(
    billing_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    billing_live_url: str,
    db: Database,
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant, "pack_business")
    payload = session_event(order_id, session_id, amount=5000)
    headers = stripe_headers(payload)
    async with local_client(base_url=f"{billing_live_url}/api/public/v1") as http:
        replies = await asyncio.gather(
            *(http.post(WEBHOOK, content=payload.encode(), headers=headers) for _ in range(10))
        )
    assert [r.status_code for r in replies] == [200] * 10
    outcomes = sorted(r.json()["data"]["outcome"] for r in replies)
    assert outcomes == ["credited"] + ["duplicate"] * 9
    assert await balance(billing_client, merchant) == 7000
    assert len(await events_of(db, merchant.merchant_id, "wallet.credited")) == 1
    await channels.paid_once(db, merchant.merchant_id, order_id, 7000)
    await assert_ledger_balanced(db)


def _tampered(payload: str) -> tuple[str, dict[str, str]]:
    headers = stripe_headers(payload)
    return payload.replace('"amount_total": 2000', '"amount_total": 2001'), headers


@pytest.mark.parametrize(
    "forge",
    ["tampered", "stale", "future", "missing", "wrong_secret", "garbage", "no_v1"],
)
async def test_bad_signatures_are_refused_and_change_nothing(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, forge: str
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant)
    payload = session_event(order_id, session_id)
    now = int(time.time())
    headers: dict[str, str]
    if forge == "tampered":
        payload, headers = _tampered(payload)
    elif forge == "stale":
        headers = stripe_headers(payload, timestamp=now - 301)
    elif forge == "future":
        headers = stripe_headers(payload, timestamp=now + 600)
    elif forge == "missing":
        headers = {"Content-Type": "application/json"}
    elif forge == "wrong_secret":
        headers = stripe_headers(payload, secret="whsec_someone_else")
    elif forge == "garbage":
        headers = {"Stripe-Signature": "nonsense"}
    else:
        signed = stripe_headers(payload)["Stripe-Signature"]
        headers = {"Stripe-Signature": signed.replace("v1=", "v0=")}
    before = await stripe_event_count(db)
    reply = await post_event(billing_client, payload, headers)
    assert (reply.status_code, reply.json()["code"]) == (400, 4120)
    assert await balance(billing_client, merchant) == 0
    assert await order_status(billing_client, merchant) == "pending"
    assert await stripe_event_count(db) == before


async def test_any_of_several_signatures_may_match(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant)
    payload = session_event(order_id, session_id)
    good = stripe_headers(payload)["Stripe-Signature"]
    stamp, signature = good.split(",")
    rolled = f"{stamp},v1={'0' * 64},{signature}"
    reply = await post_event(billing_client, payload, {"Stripe-Signature": rolled})
    assert reply.json()["data"]["outcome"] == "credited"


async def test_mismatched_payment_is_not_credited_and_is_logged(
    billing_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant)
    wrong = [
        session_event(order_id, session_id, amount=1999),
        session_event(order_id, session_id, currency="eur"),
        session_event(order_id, "cs_test_some_other_session"),
    ]
    with caplog.at_level(logging.ERROR, logger="gateway.billing.orders"):
        for payload in wrong:
            reply = await post_event(billing_client, payload)
            assert (reply.status_code, reply.json()["data"]["outcome"]) == (200, "mismatch")
    assert caplog.text.count("does not match order") == 3
    assert await balance(billing_client, merchant) == 0
    assert await order_status(billing_client, merchant) == "pending"


async def test_sandbox_orders_cannot_be_paid_by_stripe_events(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    start = await balance(billing_client, merchant)
    reply = await billing_client.post(
        "/billing/checkout",
        json={
            "pack_id": "pack_pro",
            "success_url": "https://a.example",
            "cancel_url": "https://a.example",
        },
        headers=merchant.headers,
    )
    order_id = reply.json()["data"]["order_id"]
    event = await post_event(billing_client, session_event(order_id, "cs_test_x"))
    assert event.json()["data"]["outcome"] == "mismatch"
    assert await balance(billing_client, merchant) == start


async def test_delayed_payment_waits_then_credits_and_failures_fail_the_order(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant)
    unpaid = session_event(order_id, session_id, payment_status="unpaid")
    assert (await post_event(billing_client, unpaid)).json()["data"]["outcome"] == (
        "awaiting_payment"
    )
    assert await balance(billing_client, merchant) == 0
    paid = session_event(order_id, session_id, type_="checkout.session.async_payment_succeeded")
    assert (await post_event(billing_client, paid)).json()["data"]["outcome"] == "credited"
    assert await balance(billing_client, merchant) == 2500

    other = await make_merchant("live")
    failed_id, failed_session = await live_order(billing_client, other)
    declined = session_event(
        failed_id, failed_session, type_="checkout.session.async_payment_failed"
    )
    assert (await post_event(billing_client, declined)).json()["data"]["outcome"] == (
        "failed_order"
    )
    history = await billing_client.get("/billing/history", headers=other.headers)
    [item] = history.json()["data"]
    assert (item["status"], item["failure_reason"]) == ("failed", "payment failed")
    late = session_event(failed_id, failed_session)
    assert (await post_event(billing_client, late)).json()["data"]["outcome"] == "not_pending"
    assert await balance(billing_client, other) == 0


async def test_stripes_expired_event_expires_the_order(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant)
    expired = session_event(order_id, session_id, type_="checkout.session.expired")
    assert (await post_event(billing_client, expired)).json()["data"]["outcome"] == (
        "expired_order"
    )
    history = await billing_client.get("/billing/history", headers=merchant.headers)
    [item] = history.json()["data"]
    assert (item["status"], item["failure_reason"]) == ("expired", "checkout expired")
    again = session_event(order_id, session_id, type_="checkout.session.expired")
    assert (await post_event(billing_client, again)).json()["data"]["outcome"] == "not_pending"


async def test_a_payment_stripe_took_in_time_is_credited_after_the_order_expired_here(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """Stripe takes payment only while the session is open; its event may come after the sweep
    expired the order here. The payer paid: it is credited, once, and holds its coupon use."""
    merchant = await make_merchant("live")
    made = await admin_client.post(
        "/coupons", json={"code": "LATEEVENT", "amount_off_cents": 500, "max_uses": 1}
    )
    coupon_id = made.json()["data"]["id"]
    order_id, session_id = await live_order(billing_client, merchant, coupon="LATEEVENT")
    await _due(db, order_id)
    await billing_orders.expire_due(db)
    assert await order_status(billing_client, merchant) == "expired"
    assert await _live_uses(admin_client, coupon_id) == 0

    payload = session_event(order_id, session_id, amount=1500)
    reply = await post_event(billing_client, payload)
    assert reply.json()["data"]["outcome"] == "credited"
    assert await balance(billing_client, merchant) == 2500
    history = await billing_client.get("/billing/history", headers=merchant.headers)
    [item] = history.json()["data"]
    assert (item["status"], item["failure_reason"]) == ("completed", None)
    assert await _live_uses(admin_client, coupon_id) == 1
    other = session_event(order_id, session_id, amount=1500)
    assert (await post_event(billing_client, other)).json()["data"]["outcome"] == (
        "already_completed"
    )
    assert await balance(billing_client, merchant) == 2500
    paid = await channels.paid_once(db, merchant.merchant_id, order_id, 2500)
    assert paid["amount_cents"] == 1500  # what the payer paid, the coupon taken off
    await assert_ledger_balanced(db)


async def test_a_delayed_payment_on_its_way_does_not_expire(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant)
    unpaid = session_event(order_id, session_id, payment_status="unpaid")
    assert (await post_event(billing_client, unpaid)).json()["data"]["outcome"] == (
        "awaiting_payment"
    )
    await billing_orders.expire_due(db, now=utcnow() + timedelta(days=30))
    assert await order_status(billing_client, merchant) == "pending"
    paid = session_event(order_id, session_id, type_="checkout.session.async_payment_succeeded")
    assert (await post_event(billing_client, paid)).json()["data"]["outcome"] == "credited"
    assert await balance(billing_client, merchant) == 2500


async def _due(db: Database, order_id: str) -> None:
    """Time passes: the order's expiry is behind us."""
    orders = table_of(FundingOrder)
    async with db.transaction() as conn:
        await conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def _live_uses(admin: httpx.AsyncClient, coupon_id: str) -> int:
    listed = await admin.get("/coupons")
    [row] = [c for c in listed.json()["data"] if c["id"] == coupon_id]
    uses: int = row["uses_by_env"]["live"]
    return uses


async def test_unknown_types_are_acknowledged_and_malformed_events_refused(
    billing_client: httpx.AsyncClient,
) -> None:
    payload = json.dumps(
        {"id": "evt_unknown_1", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    )
    reply = await post_event(billing_client, payload)
    assert (reply.status_code, reply.json()["data"]["outcome"]) == (200, "ignored")
    for body in ('{"id": 5}', "[1, 2]", "not json"):
        reply = await post_event(billing_client, body)
        assert (reply.status_code, reply.json()["code"]) == (400, 4122), body


async def test_webhook_off_without_a_secret(client: httpx.AsyncClient) -> None:
    payload = json.dumps({"id": "evt_1", "type": "x", "data": {"object": {}}})
    reply = await post_event(client, payload)
    assert (reply.status_code, reply.json()["code"]) == (503, 4121)


async def test_a_failure_while_crediting_is_a_5xx_and_the_retry_credits(
    billing_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
    db: Database,
) -> None:
    merchant = await make_merchant("live")
    order_id, session_id = await live_order(billing_client, merchant)
    payload = session_event(order_id, session_id)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the wallet is on fire")

    with monkeypatch.context() as patch:
        patch.setattr(billing_orders.settle, "credit_merchant", broken)
        reply = await post_event(billing_client, payload)
    assert (reply.status_code, reply.json()["code"]) == (500, 4123)
    assert await balance(billing_client, merchant) == 0
    assert await order_status(billing_client, merchant) == "pending"

    retry = await post_event(billing_client, payload)
    assert retry.json()["data"]["outcome"] == "credited"
    assert await balance(billing_client, merchant) == 2500
    await assert_ledger_balanced(db)
