"""Checkout: Stripe Checkout Sessions for live keys (Stripe stood in by respx), the built-in
sandbox for staging keys, and coupons."""

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import respx

from gateway.store.db import Database
from tests.conftest import (
    STRIPE_API,
    STRIPE_SECRET_KEY,
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    events_of,
)

SUCCESS = "https://merchant.example/paid?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://merchant.example/cancelled"
SESSIONS = f"{STRIPE_API}/v1/checkout/sessions"
HOST = "http://gateway.test"


def stripe_session(session_id: str = "cs_test_a1b2c3") -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        "status": "open",
        "payment_status": "unpaid",
    }


def checkout_body(pack_id: str = "pack_pro", **extra: Any) -> dict[str, Any]:
    return {"pack_id": pack_id, "success_url": SUCCESS, "cancel_url": CANCEL, **extra}


async def history_total(client: httpx.AsyncClient, merchant: MerchantKey) -> int:
    reply = await client.get("/billing/history", headers=merchant.headers)
    total: int = reply.json()["meta"]["total"]
    return total


async def test_live_checkout_sends_amount_and_metadata_and_returns_stripes_url(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    with respx.mock(assert_all_called=True) as stripe_api:
        route = stripe_api.post(SESSIONS).respond(200, json=stripe_session())
        reply = await billing_client.post(
            "/billing/checkout", json=checkout_body(), headers=merchant.headers
        )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    data = body["data"]
    assert body["code"] == 1004
    assert body["status"] == "pending"
    assert data["checkout_url"] == "https://checkout.stripe.com/c/pay/cs_test_a1b2c3"
    assert data["provider"] == "stripe"
    assert (data["amount_cents"], data["credit_cents"], data["credits"]) == (2000, 2500, 25000)
    order_id = data["order_id"]
    assert order_id.startswith("ord_")

    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {STRIPE_SECRET_KEY}"
    assert request.headers["idempotency-key"] == f"checkout:{order_id}"
    sent = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert sent["mode"] == "payment"
    assert sent["client_reference_id"] == order_id
    assert sent["metadata[order_id]"] == order_id
    assert sent["metadata[merchant_id]"] == merchant.merchant_id
    assert sent["payment_intent_data[metadata][order_id]"] == order_id
    assert sent["line_items[0][price_data][unit_amount]"] == "2000"
    assert sent["line_items[0][price_data][currency]"] == "usd"
    assert sent["line_items[0][quantity]"] == "1"
    assert sent["success_url"] == SUCCESS
    assert sent["cancel_url"] == CANCEL

    history = await billing_client.get("/billing/history", headers=merchant.headers)
    [item] = history.json()["data"]
    assert (item["id"], item["status"], item["provider"]) == (order_id, "pending", "stripe")


async def test_stripe_failures_give_an_envelope_and_no_order(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    refusal = {
        "error": {
            "type": "invalid_request_error",
            "code": "parameter_invalid_integer",
            "message": "Invalid integer",
        }
    }
    cases: list[tuple[Any, int, int]] = [
        (httpx.Response(400, json=refusal), 502, 4107),
        (httpx.Response(401, json={"error": {"type": "invalid_request_error"}}), 502, 4107),
        (httpx.Response(500, json={"error": {"type": "api_error"}}), 502, 4107),
        (httpx.Response(503, text="upstream down"), 502, 4107),
        (httpx.ReadTimeout("slow"), 504, 4108),
        (httpx.ConnectTimeout("slow"), 504, 4108),
        (httpx.ConnectError("refused"), 502, 4107),
    ]
    for outcome, status, code in cases:
        with respx.mock(assert_all_called=True) as stripe_api:
            stripe_api.post(SESSIONS).mock(
                side_effect=outcome if isinstance(outcome, Exception) else None,
                return_value=outcome if isinstance(outcome, httpx.Response) else None,
            )
            reply = await billing_client.post(
                "/billing/checkout", json=checkout_body(), headers=merchant.headers
            )
        body = reply.json()
        assert (reply.status_code, body["code"], body["success"]) == (status, code, False), outcome
        assert "Traceback" not in reply.text
    assert await history_total(billing_client, merchant) == 0


async def test_live_checkout_without_stripe_configured_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    with respx.mock(assert_all_called=False) as stripe_api:
        reply = await client.post(
            "/billing/checkout", json=checkout_body(), headers=merchant.headers
        )
        assert not stripe_api.calls
    assert (reply.status_code, reply.json()["code"]) == (503, 4106)
    assert await history_total(client, merchant) == 0


async def test_checkout_validation(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    cases: list[tuple[dict[str, Any], int]] = [
        (checkout_body("pack_nope"), 4101),
        (checkout_body(success_url="ftp://x.example/"), 3001),
        (checkout_body(cancel_url="/relative"), 3001),
        (checkout_body(success_url="https://x.example/" + "a" * 2100), 3001),
        ({"pack_id": "pack_pro"}, 3001),
        (checkout_body(coupon=5), 3001),
        (checkout_body(extra="field"), 3001),
    ]
    for body, code in cases:
        reply = await billing_client.post("/billing/checkout", json=body, headers=merchant.headers)
        assert reply.json()["code"] == code, body
    assert await history_total(billing_client, merchant) == 0


async def test_staging_sandbox_checkout_end_to_end_without_stripe(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging")
    start = (await client.get("/balance", headers=merchant.headers)).json()["data"]
    with respx.mock(assert_all_called=False) as stripe_api:
        reply = await client.post(
            "/billing/checkout", json=checkout_body(), headers=merchant.headers
        )
        assert not stripe_api.calls
    assert reply.status_code == 201, reply.text
    data = reply.json()["data"]
    assert data["provider"] == "sandbox"
    link = urlsplit(data["checkout_url"])
    assert link.path == f"/api/public/v1/billing/sandbox/checkout/{data['order_id']}"

    # The payer opens the link (no API key: it is a browser) and presses Pay.
    page = await client.get(data["checkout_url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Pro pack" in page.text
    assert "20.00 USD" in page.text
    pay_action = html.unescape(re.findall(r'action="([^"]+)"', page.text)[0])
    paid = await client.post(HOST + pay_action)
    assert paid.status_code == 303
    assert paid.headers["location"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}", data["order_id"])

    after = (await client.get("/balance", headers=merchant.headers)).json()["data"]
    assert after["balance_cents"] == start["balance_cents"] + 2500
    history = await client.get("/billing/history", headers=merchant.headers)
    [item] = history.json()["data"]
    assert (item["status"], item["amount_paid_cents"]) == ("completed", 2000)
    assert item["completed_at"] is not None
    [event] = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert event["env"] == "staging"
    assert event["data"]["reference"] == data["order_id"]
    assert event["data"]["source"] == "checkout"

    again = await client.post(HOST + pay_action)
    assert (again.status_code, again.json()["code"]) == (409, 4131)
    reopened = await client.get(data["checkout_url"])
    assert "completed" in reopened.text
    assert "action=" not in reopened.text
    forged = await client.get(f"{HOST}{link.path}?token={'0' * 64}")
    assert (forged.status_code, forged.json()["code"]) == (404, 4130)
    no_token = await client.post(f"{HOST}{link.path}/pay")
    assert no_token.json()["code"] == 4130
    balance = (await client.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance_cents"] == start["balance_cents"] + 2500
    await assert_ledger_balanced(db)


async def test_sandbox_cancel_fails_the_order(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    reply = await client.post(
        "/billing/checkout", json=checkout_body("pack_starter"), headers=merchant.headers
    )
    link = urlsplit(reply.json()["data"]["checkout_url"])
    cancelled = await client.post(f"{HOST}{link.path}/cancel?{link.query}")
    assert (cancelled.status_code, cancelled.headers["location"]) == (303, CANCEL)
    history = await client.get("/billing/history", headers=merchant.headers)
    [item] = history.json()["data"]
    assert (item["status"], item["failure_reason"]) == ("failed", "checkout cancelled")
    paid = await client.post(
        f"{HOST}{link.path}/pay?{link.query}", headers={"Accept": "application/json"}
    )
    assert paid.json()["code"] == 4131


async def _coupon(admin: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    reply = await admin.post("/coupons", json=body)
    assert reply.status_code == 201, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def test_coupons_discount_the_price_not_the_credits(
    billing_client: httpx.AsyncClient, admin_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    await _coupon(admin_client, code="TENOFF", percent_off=10)
    await _coupon(admin_client, code="three-hundred", amount_off_cents=300)
    await _coupon(admin_client, code="TOOMUCH", amount_off_cents=460)
    await _coupon(admin_client, code="OLDNEWS", percent_off=50, expires_at="2001-01-01T00:00:00Z")
    await _coupon(admin_client, code="PROONLY", percent_off=5, pack_id="pack_pro")

    async def checkout(pack: str, coupon: str) -> httpx.Response:
        return await billing_client.post(
            "/billing/checkout", json=checkout_body(pack, coupon=coupon), headers=merchant.headers
        )

    pct = (await checkout("pack_pro", "tenoff")).json()["data"]
    assert (pct["price_cents"], pct["discount_cents"], pct["amount_cents"]) == (2000, 200, 1800)
    assert (pct["credit_cents"], pct["coupon"]) == (2500, "TENOFF")
    fixed = (await checkout("pack_starter", "THREE-HUNDRED")).json()["data"]
    assert (fixed["amount_cents"], fixed["credit_cents"]) == (200, 500)
    refusals = [
        ("pack_starter", "TOOMUCH", 4105),
        ("pack_pro", "OLDNEWS", 4103),
        ("pack_pro", "NOSUCH", 4102),
        ("pack_starter", "PROONLY", 4105),
    ]
    for pack, coupon, code in refusals:
        assert (await checkout(pack, coupon)).json()["code"] == code, coupon
    assert (await checkout("pack_pro", "PROONLY")).status_code == 201


async def test_coupon_use_limit_holds_and_failed_orders_give_uses_back(
    billing_client: httpx.AsyncClient, admin_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    coupon = await _coupon(admin_client, code="ONCEONLY", percent_off=20, max_uses=1)
    body = checkout_body("pack_business", coupon="ONCEONLY")
    first = await billing_client.post("/billing/checkout", json=body, headers=merchant.headers)
    assert first.json()["data"]["amount_cents"] == 4000
    second = await billing_client.post("/billing/checkout", json=body, headers=merchant.headers)
    assert (second.status_code, second.json()["code"]) == (409, 4104)

    link = urlsplit(first.json()["data"]["checkout_url"])
    await billing_client.post(f"{HOST}{link.path}/cancel?{link.query}")
    listed = await admin_client.get("/coupons")
    [row] = [c for c in listed.json()["data"] if c["id"] == coupon["id"]]
    assert row["uses"] == 0
    third = await billing_client.post("/billing/checkout", json=body, headers=merchant.headers)
    assert third.status_code == 201

    off = await admin_client.patch(f"/coupons/{coupon['id']}", json={"active": False})
    assert off.json()["data"]["active"] is False
    dup = await admin_client.post("/coupons", json={"code": "onceonly", "percent_off": 1})
    assert dup.json()["code"] == 4144
    both = await admin_client.post(
        "/coupons", json={"code": "BOTH", "percent_off": 1, "amount_off_cents": 1}
    )
    assert both.json()["code"] == 3001
