"""Reconciliation: a pending Stripe order is looked up at Stripe (the stand-in, driven by the real
``stripe`` package) on the payer's return, on "check payment" and by the worker's sweep, and
credited exactly once whichever gets there first; what Stripe reports unpaid or expired is
never credited. On both stores, over real concurrent HTTP requests."""

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from gateway.billing.orders import expire_due
from gateway.billing.orders.expiry import expire
from gateway.billing.settling import reconcile
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, LedgerEntry, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures import channels
from tests.fixtures.billing import stripe_headers
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    add_member,
    assert_ledger_balanced,
)
from tests.fixtures.stripe import WEBHOOK_SECRET, StripeStandIn
from tests.fixtures.webhooks import events_of

SUCCESS = "https://merchant.example/paid?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://merchant.example/cancelled"
_L = table_of(LedgerEntry)
_O = table_of(FundingOrder)


async def checkout(api: httpx.AsyncClient, merchant: MerchantKey, **body: Any) -> dict[str, Any]:
    reply = await api.post(
        "/billing/checkout",
        json={"success_url": SUCCESS, "cancel_url": CANCEL, **body},
        headers=merchant.headers,
    )
    assert reply.status_code == 201, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


@dataclass(frozen=True)
class Checkout:
    """A live merchant's pending checkout order and its session at the Stripe stand-in."""

    merchant: MerchantKey
    order_id: str
    session: dict[str, Any]  # the stand-in's own: what is changed here is what Stripe reports


StartCheckout = Callable[..., Awaitable[Checkout]]


@pytest.fixture
async def live_checkout(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
) -> AsyncIterator[StartCheckout]:
    """A new live merchant's checkout of ``pack_id``; ``paid``: paid on Stripe's page, with
    Stripe's webhook never sent. What a test leaves pending is expired, and stamped asked, at
    its end: every later sweep of the shared store would otherwise ask Stripe for it again, the
    sweeps of the tests below (and of every billing module after them) growing with each."""
    started: list[str] = []

    async def start(pack_id: str = "pack_pro", *, paid: bool = False) -> Checkout:
        merchant = await make_merchant("live")
        order = await checkout(api, merchant, pack_id=pack_id)
        started.append(order["order_id"])
        session = stripe_stand_in.session_of(order["order_id"])
        if paid:
            stripe_stand_in.pay(session["id"])
        return Checkout(merchant, order["order_id"], session)

    yield start
    await _leave_nothing_due(db, started)


async def _leave_nothing_due(db: Database, order_ids: list[str]) -> None:
    """The orders still pending expired as the expiry sweep would, and stamped asked since."""
    now = utcnow()
    mine = _O.c.id.in_(order_ids)
    async with db.transaction() as conn:
        due = update(_O).where(mine, _O.c.status == "pending")
        await conn.execute(due.values(expires_at=now - timedelta(seconds=1)))
        for order_id in order_ids:
            await expire(conn, now, order_id=order_id)
        await conn.execute(update(_O).where(mine, _O.c.status == "expired").values(checked_at=now))


async def invoice_order(
    api: httpx.AsyncClient, db: Database, merchant: MerchantKey, **body: Any
) -> dict[str, Any]:
    """An invoice order of ``merchant``'s, billed to a user of its own."""
    email = await add_member(db, merchant.merchant_id)
    reply = await api.post(
        "/billing/invoice",
        json={"email": email, **body},
        headers=merchant.headers,
    )
    assert reply.status_code == 201, reply.text
    data: dict[str, Any] = reply.json()["data"]
    return data


async def credited(db: Database, order_id: str) -> int:
    """Ledger entries written for the order: one once it is paid, never two."""
    async with db.read() as conn:
        found = await conn.execute(
            select(func.count()).where(_L.c.reference == order_id, _L.c.kind == "checkout")
        )
        return int(found.scalar_one())


async def balance(api: httpx.AsyncClient, merchant: MerchantKey) -> int:
    reply = await api.get("/balance", headers=merchant.headers)
    value: int = reply.json()["data"]["balance_cents"]
    return value


Try = Callable[[], Awaitable[Any]]


def tries(
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    merchant: MerchantKey,
    order_id: str,
    session_id: str,
) -> dict[str, Try]:
    """The three ways an order is looked at again: the payer's return, the button, the sweep."""

    async def return_() -> Any:
        reply = await api.get(
            "/billing/checkout/return",
            params={"session_id": session_id},
            headers={"Accept": "application/json"},
        )
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]["result"]

    async def button() -> Any:
        reply = await api.post(f"/orders/{order_id}/check", headers=merchant.headers)
        assert reply.status_code == 200, reply.text
        assert reply.json()["code"] == 1120
        return reply.json()["data"]["result"]

    async def sweep() -> Any:
        # The sweep looks at every due order of the store: other tests' paid ones are its too.
        swept = await reconcile.sweep(db, settings)
        return [o.data["result"] for o in swept if o.data["order_id"] == order_id]

    return {"return": return_, "button": button, "sweep": sweep}


WAYS = ["return", "button", "sweep"]


@pytest.mark.parametrize("first", WAYS)
async def test_a_paid_session_without_its_webhook_is_credited_once_whoever_goes_first(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    live_checkout: StartCheckout,
    first: str,
) -> None:
    """Each way started first, the other two next, then seven more of them mixed: every way
    meets every other at once, and each of them twice or more, so a second credit by a way
    racing another, or itself, is counted (the order of the second and third started adds
    nothing: once started they all wait on the same store and the same Stripe)."""
    order = await live_checkout(paid=True)
    merchant, session = order.merchant, order.session

    ways = tries(api, db, stripe_stood_in_settings, merchant, order.order_id, session["id"])
    # 10 tries: this round's way first, the other two, then the rest mixed.
    rest = random.Random(first).choices(WAYS, k=7)
    racing = [ways[name]() for name in [first, *(w for w in WAYS if w != first), *rest]]
    results = await asyncio.gather(*racing)

    flat = [r for found in results for r in (found if isinstance(found, list) else [found])]
    assert flat.count("credited") == 1, flat
    assert await credited(db, order.order_id) == 1
    assert await balance(api, merchant) == 2500
    assert len(await events_of(db, merchant.merchant_id, "wallet.credited")) == 1
    await channels.paid_once(db, merchant.merchant_id, order.order_id, 2500)
    reply = await api.get(f"/orders/{order.order_id}", headers=merchant.headers)
    data = reply.json()["data"]
    assert (data["status"], data["provider_status"]) == ("completed", "paid")
    assert data["provider_payment_id"] == stripe_stand_in.sessions[session["id"]]["payment_intent"]
    await assert_ledger_balanced(db)


async def test_the_webhook_after_a_reconciled_credit_credits_nothing(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    live_checkout: StartCheckout,
) -> None:
    order = await live_checkout("pack_starter", paid=True)
    merchant = order.merchant
    reply = await api.post(f"/orders/{order.order_id}/check", headers=merchant.headers)
    assert reply.json()["data"]["result"] == "credited"

    payload = stripe_stand_in.event("checkout.session.completed", dict(order.session))
    late = await api.post(
        "/payments/stripe/webhook",
        content=payload,
        headers=stripe_headers(payload, secret=WEBHOOK_SECRET),
    )
    assert late.status_code == 200, late.text
    assert late.json()["data"]["outcome"] == "already_completed"
    assert await credited(db, order.order_id) == 1
    assert await balance(api, merchant) == 500


@pytest.mark.parametrize("stripe_says", ["open", "expired", "unpaid"])
async def test_a_session_stripe_reports_unpaid_or_expired_is_never_credited(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    live_checkout: StartCheckout,
    stripe_says: str,
) -> None:
    order = await live_checkout()
    merchant, session_id = order.merchant, order.session["id"]
    if stripe_says == "expired":
        stripe_stand_in.expire(session_id)
    elif stripe_says == "unpaid":
        stripe_stand_in.complete_unpaid(session_id)

    ways = tries(api, db, stripe_stood_in_settings, merchant, order.order_id, session_id)
    # Each way twice at once: a credit by any of them, or by one racing another, would show.
    await asyncio.gather(*(ways[name]() for name in list(ways) * 2))

    assert await credited(db, order.order_id) == 0
    assert await balance(api, merchant) == 0
    reply = await api.get(f"/orders/{order.order_id}", headers=merchant.headers)
    data = reply.json()["data"]
    expected = {"open": "pending", "expired": "expired", "unpaid": "pending"}[stripe_says]
    assert (data["status"], data["provider_status"]) == (expected, stripe_says)
    if stripe_says == "unpaid":
        assert data["expires_at"] is None  # completed at Stripe: it waits for the payment


async def test_the_return_sends_the_payer_on_to_the_merchants_page(
    api: httpx.AsyncClient, stripe_stand_in: StripeStandIn, live_checkout: StartCheckout
) -> None:
    order = await live_checkout()
    merchant, session = order.merchant, order.session
    # Stripe was given the gateway's return, with its placeholder for the session id.
    assert session["success_url"] == (
        "http://gateway.test/api/public/v1/billing/checkout/return?session_id={CHECKOUT_SESSION_ID}"
    )
    stripe_stand_in.pay(session["id"])
    reply = await api.get("/billing/checkout/return", params={"session_id": session["id"]})
    assert reply.status_code == 303
    assert reply.headers["location"] == f"https://merchant.example/paid?session={session['id']}"
    assert await balance(api, merchant) == 2500

    for unknown in ("cs_test_unknown", "not-a-session", ""):
        missing = await api.get("/billing/checkout/return", params={"session_id": unknown})
        assert (missing.status_code, missing.json()["code"]) == (404, 4130)


async def test_a_live_checkout_without_return_urls_lands_on_the_gateways_page(
    api: httpx.AsyncClient, stripe_stand_in: StripeStandIn, make_merchant: MakeMerchant
) -> None:
    """Stripe's success_url is the gateway's return, which goes on to the gateway's own page
    saying what was credited; its cancel_url is that page, saying the payment was cancelled."""
    merchant = await make_merchant("live")
    reply = await api.post(
        "/billing/checkout", json={"pack_id": "pack_pro"}, headers=merchant.headers
    )
    assert reply.status_code == 201, reply.text
    order_id = reply.json()["data"]["order_id"]
    session = stripe_stand_in.session_of(order_id)
    public = "http://gateway.test/api/public/v1"  # the stand-in's AITOPUP_PUBLIC_BASE_URL
    done = f"{public}/billing/checkout/done?order={order_id}"
    assert session["success_url"].startswith(f"{public}/billing/checkout/return?")
    assert session["cancel_url"] == done + "&cancelled=1"
    cancelled = await api.get(session["cancel_url"].removeprefix(public))
    assert "Payment cancelled" in cancelled.text and "nothing was charged" in cancelled.text
    pending = await api.get(done.removeprefix(public))
    assert "Payment pending" in pending.text

    stripe_stand_in.pay(session["id"])
    back = await api.get("/billing/checkout/return", params={"session_id": session["id"]})
    assert (back.status_code, back.headers["location"]) == (303, done)
    landed = await api.get(done.removeprefix(public))
    assert landed.status_code == 200
    assert "Wallet funded" in landed.text and "$25.00 credited" in landed.text
    assert await balance(api, merchant) == 2500


async def test_check_payment_is_the_merchants_own(
    api: httpx.AsyncClient, live_checkout: StartCheckout, make_merchant: MakeMerchant
) -> None:
    order = await live_checkout(paid=True)
    owner = order.merchant
    other = await make_merchant("live")
    for path in (f"/orders/{order.order_id}/check", f"/orders/{order.order_id}"):
        method = api.post if path.endswith("check") else api.get
        refused = await method(path, headers=other.headers)
        assert (refused.status_code, refused.json()["code"]) == (404, 4130)
    assert await balance(api, owner) == 0
    for bad in ("ord_x", "ord_" + "A" * 24, "../x"):
        refused = await api.post(f"/orders/{bad}/check", headers=owner.headers)
        assert refused.status_code == 404


async def test_operators_list_orders_whose_state_at_stripe_differs(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    live_checkout: StartCheckout,
) -> None:
    order = await live_checkout(paid=True)
    merchant, session = order.merchant, order.session
    # Stripe took a different amount than the order says: nothing is credited, and it shows.
    session["amount_total"] = 1
    reply = await api.post(f"/orders/{order.order_id}/check", headers=merchant.headers)
    assert reply.json()["data"]["result"] == "mismatch"
    assert await credited(db, order.order_id) == 0

    listed = await admin.get("/orders/mismatched", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    ids = [o["id"] for o in listed.json()["data"]]
    assert order.order_id in ids
    [row] = [o for o in listed.json()["data"] if o["id"] == order.order_id]
    assert (row["status"], row["provider_status"]) == ("pending", "paid")

    # Stripe's amount put right: the operator's check credits it, and it leaves the list.
    session["amount_total"] = 2000
    checked = await admin.post(f"/orders/{order.order_id}/check")
    assert checked.status_code == 200, checked.text
    assert checked.json()["data"]["result"] == "credited"
    listed = await admin.get("/orders/mismatched", params={"limit": 100})
    assert order.order_id not in [o["id"] for o in listed.json()["data"]]
    assert await credited(db, order.order_id) == 1


async def test_an_invoice_order_is_credited_once_on_invoice_paid(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live")
    order = await invoice_order(api, db, merchant, amount_cents=20_000)
    assert (order["kind"], order["status"], order["amount_cents"]) == ("invoice", "pending", 19_000)
    invoice = stripe_stand_in.invoices[order["provider_reference"]]
    assert (invoice["status"], invoice["amount_due"]) == ("open", 19_000)
    assert invoice["metadata"]["order_id"] == order["id"]
    assert order["invoice_url"] == invoice["hosted_invoice_url"]

    paid = stripe_stand_in.pay_invoice(invoice["id"])
    for _ in range(2):  # Stripe sends it again, under another event id: still credited once
        payload = stripe_stand_in.event("invoice.paid", dict(paid))
        sent = await api.post(
            "/payments/stripe/webhook",
            content=payload,
            headers=stripe_headers(payload, secret=WEBHOOK_SECRET),
        )
        assert sent.status_code == 200, sent.text
    assert await credited(db, order["id"]) == 1
    assert await balance(api, merchant) == 20_000
    paid = await channels.paid_once(db, merchant.merchant_id, order["id"], 20_000)
    assert (paid["kind"], paid["amount_cents"]) == ("invoice", 19_000)

    staging = await make_merchant("staging")
    refused = await api.post(
        "/billing/invoice",
        json={"pack_id": "pack_pro", "email": "a@b.example"},
        headers=staging.headers,
    )
    assert (refused.status_code, refused.json()["code"]) == (403, 4157)


async def test_an_invoice_paid_without_its_webhook_is_found_by_the_sweep(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live")
    order = await invoice_order(api, db, merchant, pack_id="pack_pro")
    await reconcile.sweep(db, stripe_stood_in_settings)
    assert await credited(db, order["id"]) == 0  # open at Stripe: nothing yet
    stripe_stand_in.pay_invoice(order["provider_reference"])
    await asyncio.gather(*(reconcile.sweep(db, stripe_stood_in_settings) for _ in range(5)))
    assert await credited(db, order["id"]) == 1
    assert await balance(api, merchant) == 2_500


async def test_a_paid_session_expired_here_unasked_is_asked_once_and_credited_late(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stood_in_settings: Settings,
    live_checkout: StartCheckout,
) -> None:
    """Paid on Stripe's page, its webhook lost, and the order expired by the expiry sweep
    before anyone asked: reconciliation asks Stripe once after the expiry and credits it, late,
    once; an expired order Stripe says was never paid is asked once and left expired."""
    paid = await live_checkout(paid=True)
    unpaid = await live_checkout()
    async with db.transaction() as conn:
        await conn.execute(
            update(_O)
            .where(_O.c.id.in_((paid.order_id, unpaid.order_id)))
            .values(expires_at=utcnow() - timedelta(seconds=1), checked_at=None)
        )
    await expire_due(db)
    assert [await _status(db, o) for o in (paid.order_id, unpaid.order_id)] == ["expired"] * 2

    async def swept() -> dict[str, str]:
        done = await reconcile.sweep(db, stripe_stood_in_settings)
        mine = (paid.order_id, unpaid.order_id)
        return {o.data["order_id"]: o.data["result"] for o in done if o.data["order_id"] in mine}

    assert await swept() == {paid.order_id: "credited", unpaid.order_id: "not_pending"}
    assert await swept() == {}  # each asked once
    assert [await _status(db, o) for o in (paid.order_id, unpaid.order_id)] == [
        "completed",
        "expired",
    ]
    assert await credited(db, paid.order_id) == 1
    assert await balance(api, paid.merchant) == 2500
    await assert_ledger_balanced(db)


async def _status(db: Database, order_id: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(select(_O.c.status).where(_O.c.id == order_id))
        return str(found.scalar_one())
