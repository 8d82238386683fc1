"""Epay end to end, through the stand-in deployment, on both stores: a live order opened through
the channel, the payer's page, the notification signed as Epay signs it, the wallet credited
once with its receipt and event; the same notification twice (at once, over real concurrent
requests), out of order and lost (found by reconciliation) credits once, with one
``order.paid``; forged, altered, foreign and replayed notifications credit nothing, the refused
ones without a trace and logged once."""

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.types import ASGIApp

from gateway.billing import orders
from gateway.billing.settling import reconcile
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, LedgerEntry, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures import channels
from tests.fixtures.billing import ADMIN_TOKEN, PUBLIC_BASE, channels_kept
from tests.fixtures.core import asgi_client, live_server, local_client, make_settings, running_app
from tests.fixtures.epay import EPAY_KEY, EPAY_PID, OTHER_KEY, OTHER_PID, EpayOrder, EpayStandIn
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.webhooks import events_of

NOTIFY_PATH = "/api/public/v1/payment/webhook/epay"
RATE = "7.2"  # a $5.00 Starter pack is ¥36.00
_L = table_of(LedgerEntry)
_O = table_of(FundingOrder)


@pytest.fixture(scope="session")
def epay_settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        admin_token=ADMIN_TOKEN,
        public_base_url=PUBLIC_BASE,
        reconcile_after_seconds=0,
        # The session's store holds other tests' pending orders, never checked and so first in
        # the sweep's line: its largest batch reaches this file's too.
        reconcile_batch=1000,
    )


CREDENTIALS = {"pid": EPAY_PID, "key": EPAY_KEY, "currency": "CNY", "rate": RATE}


@pytest.fixture(scope="session")
async def epay_app(epay_settings: Settings) -> AsyncIterator[ASGIApp]:
    async with running_app(epay_settings) as app:
        yield app


@pytest.fixture(autouse=True)
async def epay_enabled(
    epay_app: ASGIApp, epay_stand_in: EpayStandIn, db: Database
) -> AsyncIterator[None]:
    """Epay enabled by the operator for each test: in live with the account's credentials, in
    staging (the sandbox takes its payments) with none; the channels as they were after it."""
    async with channels_kept(db):
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with asgi_client(epay_app, f"{PUBLIC_BASE}/api/admin/v1", headers=headers) as admin:
            credentials = {**CREDENTIALS, "api_root": epay_stand_in.url}
            live = {"enabled": True, "credentials": credentials}
            reply = await admin.put("/billing/channels/epay/live", json=live)
            assert reply.status_code == 200, reply.text
            assert EPAY_KEY not in reply.text
            reply = await admin.put("/billing/channels/epay/staging", json={"enabled": True})
            assert reply.status_code == 200, reply.text
        yield


@pytest.fixture
async def api(epay_app: ASGIApp, epay_stand_in: EpayStandIn) -> AsyncIterator[httpx.AsyncClient]:
    """The public API in-process; Epay's notifications reach the same app."""
    async with (
        asgi_client(epay_app, f"{PUBLIC_BASE}/api/public/v1") as http,
        asgi_client(epay_app, PUBLIC_BASE) as gateway,
    ):
        with epay_stand_in.through(gateway):
            yield http


async def _checkout(api: httpx.AsyncClient, merchant: MerchantKey) -> dict[str, Any]:
    return await channels.checkout(
        api,
        merchant,
        "epay",
        pack_id="pack_starter",
        success_url="https://merchant.example/paid",
        cancel_url="https://merchant.example/cancelled",
    )


async def _opened(
    api: httpx.AsyncClient, stand_in: EpayStandIn, make_merchant: MakeMerchant
) -> tuple[MerchantKey, str, EpayOrder]:
    """A live merchant's Starter order through Epay, its link opened by the payer."""
    merchant = await make_merchant("live")
    order = await _checkout(api, merchant)
    async with local_client() as payer:
        page = await payer.get(order["checkout_url"])
    assert page.status_code == 200, page.text
    return merchant, order["order_id"], stand_in.order_of(order["order_id"])


async def _credits(db: Database, order_id: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(
            select(func.count()).where(_L.c.reference == order_id, _L.c.kind == "checkout")
        )
        return int(found.scalar_one())


async def _notify(api: httpx.AsyncClient, fields: dict[str, str]) -> httpx.Response:
    return await api.get(f"{PUBLIC_BASE}{NOTIFY_PATH}?{urlencode(fields)}")


async def test_a_payment_credits_once_with_its_receipt_and_event(
    api: httpx.AsyncClient, epay_stand_in: EpayStandIn, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant, order_id, epay_order = await _opened(api, epay_stand_in, make_merchant)
    assert epay_order.money == "36.00"
    pending = await channels.order(api, merchant, order_id)
    assert pending["status"] == "pending"
    async with db.read() as conn:
        row = (await conn.execute(select(_O).where(_O.c.id == order_id))).one()
    # What Epay charges, beside what the wallet is credited.
    assert (row.charge_minor, row.charge_currency, row.charge_rate) == (3600, "CNY", RATE)
    assert (row.amount_cents, row.credit_cents, row.channel) == (500, 500, "epay")
    # The payer presses Pay on Epay's page: Epay notifies, then sends the payer back.
    async with local_client() as payer:
        pressed = await payer.post(f"{epay_stand_in.url}/pay/{epay_order.trade_no}")
    assert pressed.status_code == 302
    assert epay_stand_in.notifications[-1][1:] == (200, "success")
    assert await channels.balance(api, merchant) == 500
    assert await _credits(db, order_id) == 1
    paid = await channels.order(api, merchant, order_id)
    assert paid["status"] == "completed"
    receipt = await api.get(f"/orders/{order_id}/receipt", headers=merchant.headers)
    assert receipt.status_code == 200, receipt.text
    credited = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert [e["data"]["amount_cents"] for e in credited] == [500]
    # The payer's return lands on the gateway's own page, which looks the order up first.
    back = await api.get(pressed.headers["location"])
    assert back.status_code in (302, 303), back.text
    # The same notification again: answered success, nothing more credited.
    again = await epay_stand_in.notify(epay_order)
    assert again == (200, "success")
    assert await channels.balance(api, merchant) == 500 and await _credits(db, order_id) == 1
    assert len(await events_of(db, merchant.merchant_id, "wallet.credited")) == 1
    paid = await channels.paid_once(db, merchant.merchant_id, order_id, 500)
    assert (paid["charge_minor"], paid["charge_currency"], paid["charge_rate"]) == (
        3600,
        "CNY",
        RATE,
    )
    assert (paid["amount_cents"], paid["channel"]) == (500, "epay")
    assert paid["receipt_number"] == receipt.json()["data"]["receipt_number"]
    await assert_ledger_balanced(db)


async def test_the_same_notification_at_once_credits_once(
    epay_settings: Settings,
    epay_app: ASGIApp,
    epay_stand_in: EpayStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    async with live_server(epay_settings) as root, local_client(timeout=30) as http:
        api = local_client(base_url=f"{root}/api/public/v1", timeout=30)
        async with api:
            merchant = await make_merchant("live")
            order = await _checkout(api, merchant)
            async with local_client() as payer:
                await payer.get(order["checkout_url"])
            epay_order = await epay_stand_in.pay(order["order_id"], deliver=False)
            fields = epay_stand_in.notification(epay_order)
            url = f"{root}{NOTIFY_PATH}?{urlencode(fields)}"
            replies = await asyncio.gather(*(http.get(url) for _ in range(8)))
            assert [(r.status_code, r.text) for r in replies] == [(200, "success")] * 8
            assert await channels.balance(api, merchant) == 500
    assert await _credits(db, order["order_id"]) == 1
    await channels.paid_once(db, merchant.merchant_id, order["order_id"], 500)


async def test_a_lost_notification_is_found_by_reconciliation_and_the_late_one_credits_nothing(
    api: httpx.AsyncClient,
    epay_settings: Settings,
    epay_stand_in: EpayStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant, order_id, epay_order = await _opened(api, epay_stand_in, make_merchant)
    # Not paid yet: the sweep looks, finds it unpaid at Epay, and changes nothing.
    await reconcile.sweep(db, epay_settings)
    assert (await channels.order(api, merchant, order_id))["status"] == "pending"
    await epay_stand_in.pay(order_id, deliver=False)  # the notification is lost
    await reconcile.sweep(db, epay_settings)
    assert (await channels.order(api, merchant, order_id))["status"] == "completed"
    assert await channels.balance(api, merchant) == 500
    # Out of order: the notification arrives after the sweep credited, then a check.
    assert await epay_stand_in.notify(epay_order) == (200, "success")
    checked = await api.post(f"/orders/{order_id}/check", headers=merchant.headers)
    assert checked.status_code == 200, checked.text
    assert await _credits(db, order_id) == 1 and await channels.balance(api, merchant) == 500
    await channels.paid_once(db, merchant.merchant_id, order_id, 500)


async def test_a_check_finds_a_payment_before_its_notification(
    api: httpx.AsyncClient, epay_stand_in: EpayStandIn, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant, order_id, epay_order = await _opened(api, epay_stand_in, make_merchant)
    await epay_stand_in.pay(order_id, deliver=False)
    checked = await api.post(f"/orders/{order_id}/check", headers=merchant.headers)
    assert checked.status_code == 200, checked.text
    assert checked.json()["data"]["result"] == "credited"
    # The notification comes after, as a form POST (some deployments send it so).
    posted = await api.post(
        f"{PUBLIC_BASE}{NOTIFY_PATH}", data=epay_stand_in.notification(epay_order)
    )
    assert (posted.status_code, posted.text) == (200, "success")
    assert await _credits(db, order_id) == 1 and await channels.balance(api, merchant) == 500


async def test_forged_altered_and_foreign_notifications_credit_nothing(
    api: httpx.AsyncClient,
    epay_stand_in: EpayStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    merchant, order_id, epay_order = await _opened(api, epay_stand_in, make_merchant)
    await epay_stand_in.pay(order_id, deliver=False)
    genuine = epay_stand_in.notification(epay_order)
    refused = {
        "forged": {**genuine, "sign": "0" * 32},
        "altered amount, old signature": {**genuine, "money": "3600.00"},
        "another merchant's, its own key": epay_stand_in.notification(
            epay_order, key=OTHER_KEY, pid=OTHER_PID
        ),
        "another pid, our key": epay_stand_in.notification(epay_order, pid=OTHER_PID),
        "unsigned": {k: v for k, v in genuine.items() if k not in ("sign", "sign_type")},
    }
    for what, fields in refused.items():
        reply = await channels.refused_once(caplog, _notify(api, fields))
        assert reply.status_code in (400, 401, 403), (what, reply.text)
        assert reply.text != "success", what
    assert await channels.balance(api, merchant) == 0 and await _credits(db, order_id) == 0
    # A status that is not a payment credits nothing either.
    closed = epay_stand_in.notification(epay_order, trade_status="TRADE_CLOSED")
    assert (await _notify(api, closed)).text == "success"
    assert await _credits(db, order_id) == 0
    # The genuine one credits; replayed later it is answered and credits nothing.
    assert (await _notify(api, genuine)).text == "success"
    assert (await _notify(api, genuine)).text == "success"
    assert await channels.balance(api, merchant) == 500 and await _credits(db, order_id) == 1
    await channels.paid_once(db, merchant.merchant_id, order_id, 500)


async def test_a_notification_about_another_channels_or_a_staging_order_credits_nothing(
    api: httpx.AsyncClient, epay_stand_in: EpayStandIn, make_merchant: MakeMerchant, db: Database
) -> None:
    staging = await make_merchant("staging")
    opened = await api.post(
        "/billing/checkout",
        json={"channel": "epay", "pack_id": "pack_starter"},
        headers=staging.headers,
    )
    assert opened.status_code == 201, opened.text
    sandbox_order = opened.json()["data"]
    assert (sandbox_order["provider"], sandbox_order["channel"]) == ("sandbox", "epay")
    assert re.match(r"https?://gateway\.test/", sandbox_order["checkout_url"])
    with pytest.raises(KeyError):  # staging never reached the deployment
        epay_stand_in.order_of(sandbox_order["order_id"])
    forged_order = EpayOrder(
        trade_no="2026112500000000001",
        pid=EPAY_PID,
        out_trade_no=sandbox_order["order_id"],
        type="alipay",
        name="Starter",
        money="36.00",
        notify_url=f"{PUBLIC_BASE}{NOTIFY_PATH}",
        return_url="",
    )
    reply = await _notify(api, epay_stand_in.notification(forged_order))
    assert 400 <= reply.status_code < 500 and reply.text != "success", reply.text
    assert await _credits(db, sandbox_order["order_id"]) == 0


async def test_a_signed_notification_for_another_amount_credits_nothing(
    api: httpx.AsyncClient, epay_stand_in: EpayStandIn, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant, order_id, epay_order = await _opened(api, epay_stand_in, make_merchant)
    # Signed with the merchant's key (a leaked key, a deployment's bug), for less than the order
    # charged: nothing is credited, the order is left pending for an operator.
    changed = await _notify(api, epay_stand_in.notification(epay_order, money="3.60"))
    assert changed.status_code < 500
    assert await channels.balance(api, merchant) == 0 and await _credits(db, order_id) == 0
    assert (await channels.order(api, merchant, order_id))["status"] == "pending"


async def test_the_operator_sees_epay_masked_with_its_notify_url_and_merchants_are_offered_it(
    api: httpx.AsyncClient, epay_app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with asgi_client(epay_app, f"{PUBLIC_BASE}/api/admin/v1", headers=headers) as admin:
        listed = await admin.get("/billing/channels")
    assert listed.status_code == 200 and EPAY_KEY not in listed.text
    epay = next(c for c in listed.json()["data"] if c["channel"] == "epay")
    assert epay["notify_url"] == f"{PUBLIC_BASE}{NOTIFY_PATH}"
    assert epay["notify_methods"] == ["GET", "POST"]
    assert (epay["can_look_up"], epay["can_refund"]) == (True, False)
    assert epay["credential_fields"]["key"] is True and epay["credential_fields"]["pid"] is False
    live = next(e for e in epay["envs"] if e["env"] == "live")
    assert live["credentials"]["key"] == "********" and live["credentials"]["pid"] == EPAY_PID
    for env in ("live", "staging"):
        merchant = await make_merchant(env)
        info = (await api.get("/billing/topup-info", headers=merchant.headers)).json()["data"]
        offered = {c["channel"]: c["through"] for c in info["channels"]}
        assert offered["epay"] == ("epay" if env == "live" else "sandbox")


async def test_staging_pays_epay_on_the_sandbox_page_and_never_calls_the_deployment(
    api: httpx.AsyncClient, epay_stand_in: EpayStandIn, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging")
    before = await channels.balance(api, merchant)
    made = await _checkout(api, merchant)
    assert (made["provider"], made["channel"]) == ("sandbox", "epay")
    page_path = made["checkout_url"].removeprefix(f"{PUBLIC_BASE}/api/public/v1")
    page = await api.get(page_path)
    assert page.status_code == 200 and "Epay" in page.text
    pay = page_path.replace("?", "/pay?", 1)
    paid = await api.post(pay, headers={"Accept": "application/json"})
    assert paid.status_code == 200, paid.text
    assert await channels.balance(api, merchant) == before + 500
    with pytest.raises(KeyError):
        epay_stand_in.order_of(made["order_id"])


async def test_a_payment_reported_after_the_order_expired_here_is_still_credited(
    api: httpx.AsyncClient, epay_stand_in: EpayStandIn, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant, order_id, _ = await _opened(api, epay_stand_in, make_merchant)
    async with db.transaction() as conn:
        await conn.execute(
            update(_O).where(_O.c.id == order_id).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await orders.expire_due(db) >= 1
    assert (await channels.order(api, merchant, order_id))["status"] == "expired"
    # Epay's page took the money all the same (it does not expire): the payment happened.
    await epay_stand_in.pay(order_id)
    assert epay_stand_in.notifications[-1][1:] == (200, "success")
    assert (await channels.order(api, merchant, order_id))["status"] == "completed"
    assert await _credits(db, order_id) == 1 and await channels.balance(api, merchant) == 500
