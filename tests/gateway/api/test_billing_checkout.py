"""Checkout: Stripe Checkout Sessions for live keys (Stripe stood in by respx), the built-in
sandbox for staging keys, and coupons."""

import asyncio
import html
import re
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from sqlalchemy import update

from gateway.store.engine import Database
from gateway.store.models import FundingOrder, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures import channels
from tests.fixtures.billing import STRIPE_API, STRIPE_SECRET_KEY
from tests.fixtures.core import asgi_client, local_client, running_app, wait_until
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.webhooks import events_of

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
    # The payer comes back through the gateway, which looks the order up, then goes on to
    # the merchant's own success_url.
    assert sent["success_url"] == (
        "http://gateway.test/api/public/v1/billing/checkout/return?session_id={CHECKOUT_SESSION_ID}"
    )
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
        ({"success_url": "https://x.example/"}, 3001),  # neither pack nor amount
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

    # Not paid yet: the history says nothing was paid, and what the order charges.
    [unpaid] = (await client.get("/billing/history", headers=merchant.headers)).json()["data"]
    assert (unpaid["status"], unpaid["amount_paid_cents"]) == ("pending", 0)
    assert (unpaid["amount_due_cents"], unpaid["channel"]) == (2000, "sandbox")

    # The payer opens the link (no API key: it is a browser) and presses Pay.
    page = await client.get(data["checkout_url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Pro pack</h1>" in page.text
    # The dashboard's money format and its one date format (UTC, with the relative time).
    assert '<strong id="total">$20.00</strong>' in page.text
    assert re.search(
        r"<dt>Pay before</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+ (min|h)\)</dd>", page.text
    )
    pay_action = html.unescape(re.findall(r'action="([^"]+)"', page.text)[0])
    paid = await client.post(HOST + pay_action)
    assert paid.status_code == 303
    assert paid.headers["location"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}", data["order_id"])

    after = (await client.get("/balance", headers=merchant.headers)).json()["data"]
    assert after["balance_cents"] == start["balance_cents"] + 2500
    history = await client.get("/billing/history", headers=merchant.headers)
    [item] = history.json()["data"]
    assert (item["status"], item["amount_paid_cents"]) == ("completed", 2000)
    assert item["amount_due_cents"] == 2000
    assert item["completed_at"] is not None
    [event] = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert event["env"] == "staging"
    assert event["data"]["reference"] == data["order_id"]
    assert event["data"]["source"] == "checkout"
    told = await channels.paid_once(db, merchant.merchant_id, data["order_id"], 2500)
    assert (told["env"], told["provider"], told["amount_cents"]) == ("staging", "sandbox", 2000)
    assert told["receipt_number"].startswith("STG-")

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
    assert row["uses_by_env"] == {"staging": 0, "live": 0}
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


async def _uses(admin: httpx.AsyncClient, coupon_id: str) -> dict[str, int]:
    listed = await admin.get("/coupons")
    [row] = [c for c in listed.json()["data"] if c["id"] == coupon_id]
    assert row["uses"] == row["uses_by_env"]["live"]
    uses: dict[str, int] = row["uses_by_env"]
    return uses


async def test_staging_checkouts_never_use_up_a_live_coupon(
    billing_client: httpx.AsyncClient, admin_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live")
    coupon = await _coupon(admin_client, code="ONEPERENV", percent_off=10, max_uses=1)
    body = checkout_body("pack_pro", coupon="ONEPERENV")

    sandbox = await billing_client.post("/billing/checkout", json=body, headers=staging.headers)
    assert sandbox.status_code == 201, sandbox.text
    paid = await billing_client.post(
        sandbox.json()["data"]["checkout_url"].replace("?", "/pay?"),
        headers={"Accept": "application/json"},
    )
    assert paid.status_code == 200, paid.text
    assert await _uses(admin_client, coupon["id"]) == {"staging": 1, "live": 0}

    with respx.mock(assert_all_called=True) as stripe_api:
        stripe_api.post(SESSIONS).respond(200, json=stripe_session("cs_test_one_per_env"))
        bought = await billing_client.post("/billing/checkout", json=body, headers=live.headers)
    assert bought.status_code == 201, bought.text
    assert bought.json()["data"]["amount_cents"] == 1800
    assert await _uses(admin_client, coupon["id"]) == {"staging": 1, "live": 1}

    # Each env's limit holds on its own.
    again = await billing_client.post("/billing/checkout", json=body, headers=staging.headers)
    assert (again.status_code, again.json()["code"]) == (409, 4104)
    with respx.mock(assert_all_called=False) as stripe_api:
        more = await billing_client.post("/billing/checkout", json=body, headers=live.headers)
        assert not stripe_api.calls  # refused before a session is made
    assert (more.status_code, more.json()["code"]) == (409, 4104)


@pytest.mark.both_stores
async def test_a_coupon_limit_holds_under_concurrent_checkouts(
    admin_client: httpx.AsyncClient, make_merchant: MakeMerchant, billing_live_url: str
) -> None:
    merchant = await make_merchant("staging")
    coupon = await _coupon(admin_client, code="THREEONLY", percent_off=10, max_uses=3)
    body = checkout_body("pack_pro", coupon="THREEONLY")
    async with local_client(base_url=f"{billing_live_url}/api/public/v1", timeout=30) as http:
        replies = await asyncio.gather(
            *(
                http.post("/billing/checkout", json=body, headers=merchant.headers)
                for _ in range(20)
            )
        )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes == [1004] * 3 + [4104] * 17, codes
    assert await _uses(admin_client, coupon["id"]) == {"staging": 3, "live": 0}


def _ttl_settings(settings: Settings, seconds: int) -> Settings:
    return settings.model_copy(update={"sandbox_order_ttl_seconds": seconds})


async def test_a_sandbox_order_expires_after_the_ttl_and_gives_its_coupon_back(
    billing_settings: Settings,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("staging")
    start = await merchant_balance(db, merchant)
    coupon = await _coupon(admin_client, code="SHORTLIVED", percent_off=10, max_uses=1)
    async with (
        running_app(_ttl_settings(billing_settings, 1)) as app,
        asgi_client(app) as client,
    ):
        made_at = time.time()
        reply = await client.post(
            "/billing/checkout",
            json=checkout_body("pack_pro", coupon="SHORTLIVED"),
            headers=merchant.headers,
        )
        assert reply.status_code == 201, reply.text
        data = reply.json()["data"]
        expires = datetime.fromisoformat(data["expires_at"]).timestamp()
        assert made_at - 1 <= expires <= made_at + 2
        link = urlsplit(data["checkout_url"])
        page = await client.get(data["checkout_url"])
        assert 'id="pay"' in page.text

        async def shown_expired() -> bool:
            shown = await client.get(data["checkout_url"])
            return 'id="status">expired<' in shown.text and "action=" not in shown.text

        await wait_until(shown_expired, within=5)
        # Nothing has swept it: the Pay button itself refuses, and expires it then and there.
        paid = await client.post(
            f"{HOST}{link.path}/pay?{link.query}", headers={"Accept": "application/json"}
        )
        assert (paid.status_code, paid.json()["code"], paid.json()["status"]) == (
            410,
            4150,
            "expired",
        )
        cancelled = await client.post(
            f"{HOST}{link.path}/cancel?{link.query}", headers={"Accept": "application/json"}
        )
        assert (cancelled.status_code, cancelled.json()["code"]) == (410, 4150)
        history = await client.get("/billing/history", headers=merchant.headers)
        [item] = history.json()["data"]
        assert (item["status"], item["failure_reason"]) == ("expired", "checkout expired")
        assert item["expires_at"] == data["expires_at"]
    assert await merchant_balance(db, merchant) == start
    assert await _uses(admin_client, coupon["id"]) == {"staging": 0, "live": 0}


async def test_the_sandbox_ttl_is_the_setting(
    billing_settings: Settings, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    for ttl in (90, billing_settings.sandbox_order_ttl_seconds):
        async with (
            running_app(_ttl_settings(billing_settings, ttl)) as app,
            asgi_client(app) as client,
        ):
            before = int(time.time())
            reply = await client.post(
                "/billing/checkout", json=checkout_body(), headers=merchant.headers
            )
            after = time.time()
        expires = datetime.fromisoformat(reply.json()["data"]["expires_at"]).timestamp()
        assert before + ttl <= expires <= after + ttl, ttl
    assert billing_settings.sandbox_order_ttl_seconds == 3600  # the default


async def test_a_live_order_expires_with_its_stripe_session(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    session_expiry = int(time.time()) + 1800
    with respx.mock(assert_all_called=True) as stripe_api:
        stripe_api.post(SESSIONS).respond(
            200, json={**stripe_session("cs_test_expiring"), "expires_at": session_expiry}
        )
        told = await billing_client.post(
            "/billing/checkout", json=checkout_body(), headers=merchant.headers
        )
    assert datetime.fromisoformat(told.json()["data"]["expires_at"]).timestamp() == session_expiry

    with respx.mock(assert_all_called=True) as stripe_api:
        stripe_api.post(SESSIONS).respond(200, json=stripe_session("cs_test_silent"))
        before = time.time()
        silent = await billing_client.post(
            "/billing/checkout", json=checkout_body(), headers=merchant.headers
        )
    expires = datetime.fromisoformat(silent.json()["data"]["expires_at"]).timestamp()
    assert before + 24 * 3600 - 1 <= expires <= time.time() + 24 * 3600  # Stripe's default


async def test_a_checkout_frees_uses_held_by_orders_already_expired(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """Between two sweeps, a use held by an order that can no longer be paid is not lost."""
    merchant = await make_merchant("staging")
    coupon = await _coupon(admin_client, code="HELDBYOLD", percent_off=10, max_uses=1)
    body = checkout_body("pack_pro", coupon="HELDBYOLD")
    first = await billing_client.post("/billing/checkout", json=body, headers=merchant.headers)
    refused = await billing_client.post("/billing/checkout", json=body, headers=merchant.headers)
    assert refused.json()["code"] == 4104
    await _move_expiry(db, first.json()["data"]["order_id"], utcnow() - timedelta(seconds=1))
    second = await billing_client.post("/billing/checkout", json=body, headers=merchant.headers)
    assert second.status_code == 201, second.text
    history = await billing_client.get("/billing/history", headers=merchant.headers)
    statuses = {i["id"]: i["status"] for i in history.json()["data"]}
    assert statuses == {
        first.json()["data"]["order_id"]: "expired",
        second.json()["data"]["order_id"]: "pending",
    }
    assert await _uses(admin_client, coupon["id"]) == {"staging": 1, "live": 0}


async def _move_expiry(db: Database, order_id: str, when: datetime) -> None:
    """Time passes: the order's expiry is ``when``."""
    orders = table_of(FundingOrder)
    async with db.transaction() as conn:
        await conn.execute(update(orders).where(orders.c.id == order_id).values(expires_at=when))


@pytest.mark.both_stores
async def test_a_sandbox_pay_and_cancel_racing_settle_the_order_once(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    billing_live_url: str,
    db: Database,
) -> None:
    """Real concurrent requests: of a Pay and a Cancel of one order exactly one wins; the other
    answers 409 with what the order became, and a paid order is never answered "failed"."""
    merchant = await make_merchant("staging")
    start = await merchant_balance(db, merchant)
    coupon = await _coupon(admin_client, code="RACEPAYCANCEL", amount_off_cents=100)
    links = []
    for _ in range(12):
        reply = await billing_client.post(
            "/billing/checkout",
            json=checkout_body("pack_starter", coupon="RACEPAYCANCEL"),
            headers=merchant.headers,
        )
        assert reply.status_code == 201, reply.text
        links.append(urlsplit(reply.json()["data"]["checkout_url"]))
    json_please = {"Accept": "application/json"}
    async with local_client(base_url=billing_live_url, timeout=30) as http:
        replies = await asyncio.gather(
            *(
                http.post(f"{link.path}/{action}?{link.query}", headers=json_please)
                for link in links
                for action in ("pay", "cancel")
            )
        )
    paid = 0
    for i in range(0, len(replies), 2):
        pay, cancel = replies[i].json(), replies[i + 1].json()
        outcomes = {(pay["code"], pay["status"]), (cancel["code"], cancel["status"])}
        if pay["success"]:
            paid += 1
            assert outcomes == {(1000, "completed"), (4131, "completed")}, outcomes
            assert replies[i + 1].status_code == 409
        else:
            assert outcomes == {(1000, "failed"), (4131, "failed")}, outcomes
            assert replies[i].status_code == 409
    history = await billing_client.get("/billing/history", headers=merchant.headers)
    statuses = sorted(item["status"] for item in history.json()["data"])
    assert statuses == ["completed"] * paid + ["failed"] * (len(links) - paid)
    assert await merchant_balance(db, merchant) == start + 500 * paid
    assert await _uses(admin_client, coupon["id"]) == {"staging": paid, "live": 0}
    assert len(await events_of(db, merchant.merchant_id, "wallet.credited")) == paid
    assert len(await events_of(db, merchant.merchant_id, "order.paid")) == paid
    await assert_ledger_balanced(db)
