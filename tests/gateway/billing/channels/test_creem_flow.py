"""Creem end to end, through its stand-in, on both stores: the operator enables it with its
products, a live merchant checks out a pack (its own product) or a custom amount (units of the
amount product), pays on Creem's page and lands on the gateway's return (which looks the
checkout up itself), ``checkout.completed`` credits once however often and in whatever order it
comes (one ``order.paid``), a lost one is found by reconciliation, and forged, stale, replayed,
changed and another merchant's events credit nothing, each refused without a trace and logged
once. An operator refunds a paid Creem order in full, once: a part, Creem's refusal and a second
refund change nothing, and a refund whose answer was lost is recorded once when asked again."""

import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gateway.billing.settling import reconcile
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, LedgerEntry, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures import channels
from tests.fixtures.billing import finish_refunds, refunded
from tests.fixtures.creem import API_KEY, WEBHOOK_SECRET, CreemStandIn
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.rows import row_counts
from tests.fixtures.webhooks import events_of

WEBHOOK = "/payment/webhook/creem"
_O = table_of(FundingOrder)
_L = table_of(LedgerEntry)


async def _enable(admin: httpx.AsyncClient, stand_in: CreemStandIn, **more: Any) -> dict[str, str]:
    products = {"starter": stand_in.add_product(500), "unit": stand_in.add_product(100)}
    credentials = {
        "api_key": API_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": stand_in.url,
        "pack_products": {"pack_starter": products["starter"]},
        "amount_product": products["unit"],
        "unit_cents": 100,
        **more,
    }
    await channels.enable(admin, "creem", credentials, secrets=(API_KEY, WEBHOOK_SECRET))
    return products


@pytest.fixture
async def products(admin_client: httpx.AsyncClient, creem_stand_in: CreemStandIn) -> dict[str, str]:
    return await _enable(admin_client, creem_stand_in)


async def _checkout(api: httpx.AsyncClient, merchant: MerchantKey, **body: Any) -> httpx.Response:
    return await api.post(
        "/billing/checkout", json={"channel": "creem", **body}, headers=merchant.headers
    )


async def _send(api: httpx.AsyncClient, event: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = event
    return await api.post(WEBHOOK, content=body, headers=headers)


async def test_a_pack_paid_on_creem_s_page_returned_notified_credited_once(
    billing_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    products: dict[str, str],
) -> None:
    api = billing_client
    merchant = await make_merchant("live")
    info = (await api.get("/billing/topup-info", headers=merchant.headers)).json()["data"]
    assert "creem" in {c["channel"] for c in info["channels"]}
    made = await channels.checkout(api, merchant, "creem")
    checkout_id = channels.provider_id(made)
    sent = creem_stand_in.checkouts[checkout_id]
    assert (sent["product"], sent["units"], sent["request_id"]) == (
        products["starter"],
        1,
        made["order_id"],
    )

    # A made-up return proves nothing: the checkout is looked up, and is not paid.
    forged = await api.get(
        f"/billing/checkout/return?order={made['order_id']}&checkout_id={checkout_id}&signature=00"
    )
    assert forged.status_code in (200, 303), forged.text
    assert await channels.balance(api, merchant) == 0

    await channels.paid_on_the_page(api, made, "Pay 5.00")
    assert await channels.balance(api, merchant) == made["credit_cents"]

    event = creem_stand_in.event(checkout_id)
    await channels.sent_at_once(3, lambda: _send(api, event))
    order = await channels.order(api, merchant, made["order_id"])
    assert order["status"] == "completed" and order["charge_minor"] is None
    receipt = await api.get(f"/orders/{made['order_id']}/receipt", headers=merchant.headers)
    assert receipt.status_code == 200, receipt.text
    paid = await channels.credited_once(api, db, merchant, made)
    assert paid["receipt_number"] == receipt.json()["data"]["receipt_number"]
    assert (paid["channel"], paid["pack_id"], paid["amount_cents"], paid["charge_minor"]) == (
        "creem",
        "pack_starter",
        made["amount_cents"],
        None,
    )


async def test_a_custom_amount_in_units_credited_by_its_event_once(
    billing_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    products: dict[str, str],
) -> None:
    api = billing_client
    merchant = await make_merchant("live")
    made = await channels.checkout(api, merchant, "creem", amount_cents=4200)
    checkout_id = channels.provider_id(made)
    assert creem_stand_in.checkouts[checkout_id]["product"] == products["unit"]
    assert creem_stand_in.checkouts[checkout_id]["units"] == 42
    creem_stand_in.pay(checkout_id)
    event = creem_stand_in.event(checkout_id)
    await channels.sent_at_once(5, lambda: _send(api, event))
    # Another event id for the same checkout (Creem's resend): the order is completed already.
    assert (await _send(api, creem_stand_in.event(checkout_id))).status_code == 200
    await channels.credited_once(api, db, merchant, made)


async def test_an_amount_no_product_charges_is_refused_before_any_order(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
) -> None:
    await _enable(admin_client, creem_stand_in, unit_cents=1000)
    merchant = await make_merchant("live")
    before = len(creem_stand_in.checkouts)
    reply = await _checkout(billing_client, merchant, amount_cents=4200)
    assert (reply.status_code, reply.json()["code"]) == (422, 4440), reply.text
    assert len(creem_stand_in.checkouts) == before
    listed = await billing_client.get("/orders", headers=merchant.headers)
    assert listed.json()["data"] == []


async def test_a_lost_event_is_found_by_reconciliation(
    billing_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    billing_settings: Settings,
    products: dict[str, str],
) -> None:
    api = billing_client
    merchant = await make_merchant("live")
    made = await channels.checkout(api, merchant, "creem")
    expired = await channels.checkout(api, merchant, "creem")
    creem_stand_in.pay(channels.provider_id(made))
    creem_stand_in.expire(channels.provider_id(expired))

    later = utcnow() + timedelta(seconds=billing_settings.reconcile_after_seconds + 1)
    due = await reconcile.due(db, billing_settings, later)
    assert {made["order_id"], expired["order_id"]} <= set(due)
    checked = await reconcile.check(db, billing_settings, made["order_id"])
    assert checked.settlement.result == "credited"
    gone = await reconcile.check(db, billing_settings, expired["order_id"])
    assert gone.settlement.order_status == "expired"
    # The event comes after all: nothing more.
    assert (await _send(api, creem_stand_in.event(channels.provider_id(made)))).status_code == 200
    assert await channels.balance(api, merchant) == made["credit_cents"]
    # One order.paid, the reconciled order's; none for the expired one.
    await channels.paid_once(db, merchant.merchant_id, made["order_id"], made["credit_cents"])
    await assert_ledger_balanced(db)


async def test_forged_stale_replayed_changed_and_another_s_events_credit_nothing(
    billing_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    products: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = billing_client
    merchant = await make_merchant("live")
    other = await make_merchant("live")
    made = await channels.checkout(api, merchant, "creem")
    checkout_id = channels.provider_id(made)
    creem_stand_in.pay(checkout_id)

    old = int((time.time() - 4 * 3600) * 1000)
    body, headers = creem_stand_in.event(checkout_id)
    refused = {
        "another store's secret": creem_stand_in.event(checkout_id, secret="another-store"),
        "stale": creem_stand_in.event(checkout_id, created_ms=old),
        "amount changed": (body.replace(b'"sub_total": 500', b'"sub_total": 5'), headers),
        "unsigned": (body, {"content-type": "application/json"}),
    }
    for case, event in refused.items():
        reply = await channels.refused_once(caplog, _send(api, event))
        assert (reply.status_code, reply.json()["code"]) == (400, 4404), case
    assert await channels.balance(api, merchant) == 0

    # Signed by Creem, but naming another merchant for the order: refused, nothing credited.
    another = creem_stand_in.event(checkout_id, change={"metadata.merchant_id": other.merchant_id})
    reply = await channels.refused_once(caplog, _send(api, another))
    assert (reply.status_code, reply.json()["code"]) == (409, 4407), reply.text
    # A paid amount that is not the order's (Creem's word, signed): left for an operator.
    cheaper = creem_stand_in.event(checkout_id, change={"order.sub_total": 400})
    assert (await _send(api, cheaper)).status_code == 200
    assert (await channels.order(api, merchant, made["order_id"]))["status"] == "pending"
    assert await channels.balance(api, merchant) == 0 and await channels.balance(api, other) == 0

    # The genuine event, then the same event replayed: credited once.
    event = creem_stand_in.event(checkout_id)
    for _ in range(2):
        assert (await _send(api, event)).status_code == 200
    assert await channels.balance(api, merchant) == made["credit_cents"]
    await channels.paid_once(db, merchant.merchant_id, made["order_id"], made["credit_cents"])
    assert await events_of(db, other.merchant_id, "order.paid") == []
    await assert_ledger_balanced(db)


async def test_staging_pays_creem_through_the_sandbox_page_titled_for_it(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
) -> None:
    await channels.enable(admin_client, "creem", env="staging")
    merchant = await make_merchant("staging")
    before = len(creem_stand_in.checkouts)
    made = await channels.checkout(billing_client, merchant, "creem", amount_cents=4200)
    assert "Creem" in await channels.sandbox_page(billing_client, made, "creem")
    assert len(creem_stand_in.checkouts) == before  # staging never reaches Creem


async def _paid(
    api: httpx.AsyncClient, stand_in: CreemStandIn, merchant: MerchantKey
) -> tuple[dict[str, Any], str]:
    """A pack checked out through Creem, paid and notified: the order, and its transaction."""
    made = await channels.checkout(api, merchant, "creem")
    checkout = stand_in.pay(channels.provider_id(made))
    assert (await _send(api, stand_in.event(checkout["id"]))).status_code == 200
    assert await channels.balance(api, merchant) == made["credit_cents"]
    transaction_id: str = checkout["order"]["transaction"]
    order = await channels.order(api, merchant, made["order_id"])
    # The order keeps the money moved, what a refund names.
    assert order["provider_payment_id"] == transaction_id
    return made, transaction_id


async def test_an_operator_refunds_a_creem_order_in_full_once(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    products: dict[str, str],
) -> None:
    api, admin = billing_client, admin_client
    merchant = await make_merchant("live")
    made, transaction_id = await _paid(api, creem_stand_in, merchant)
    credited, paid = made["credit_cents"], made["amount_cents"]
    path, asked = f"/orders/{made['order_id']}/refund", len(creem_stand_in.refunds())
    unchanged = ("completed", 0, 0)

    # Creem refunds a whole payment only: a part is refused before anything is taken or asked.
    part = await admin.post(path, json={"amount_cents": paid - 100, "reason": "half"})
    assert (part.status_code, part.json()["code"]) == (409, 4484), part.text
    assert part.json()["data"] == {"refundable_cents": paid}
    assert len(creem_stand_in.refunds()) == asked
    assert await channels.balance(api, merchant) == credited
    assert await refunded(db, made["order_id"]) == unchanged

    # Creem refusing: the debit is given back, the wallet and the order as they were.
    creem_stand_in.refusal = (400, "Refund window has passed")
    try:
        refused = await admin.post(path, json={"reason": "too late"})
    finally:
        creem_stand_in.refusal = None
    assert (refused.status_code, refused.json()["code"]) == (502, 4107), refused.text
    assert creem_stand_in.refunds()[asked:] == [transaction_id]
    assert await channels.balance(api, merchant) == credited
    assert await refunded(db, made["order_id"]) == unchanged
    taken = await events_of(db, merchant.merchant_id, "wallet.debited")
    back = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert [e["data"]["amount_cents"] for e in taken] == [-credited]
    assert [(e["data"]["source"], e["data"]["amount_cents"]) for e in back][-1:] == [
        ("refund_reversal", credited)
    ]

    # The whole payment back (the amount given is all that is left: accepted as it).
    whole = await admin.post(path, json={"amount_cents": paid, "reason": "payer asked"})
    assert whole.status_code == 200, whole.text
    data = whole.json()["data"]
    assert (data["amount_cents"], data["refunded_cents"], data["refundable_cents"]) == (
        paid,
        paid,
        0,
    )
    assert (data["debit_cents"], data["balance_cents"]) == (credited, 0)
    assert data["refund_id"].startswith("ref_") and data["provider_status"] == "succeeded"
    assert creem_stand_in.refunds()[asked:] == [transaction_id, transaction_id]
    transaction = creem_stand_in.transaction(transaction_id)
    assert transaction is not None and transaction["status"] == "refunded"
    assert await channels.balance(api, merchant) == 0
    assert await refunded(db, made["order_id"]) == ("completed", paid, 1)
    debited = await events_of(db, merchant.merchant_id, "wallet.debited")
    assert [(e["data"]["source"], e["data"]["reference"]) for e in debited] == [
        ("refund", made["order_id"])
    ] * 2  # the refused one's, given back, and this one's
    assert debited[-1]["data"]["amount_cents"] == -credited

    # A second refund: nothing is left, and Creem is not asked.
    again = await admin.post(path, json={"reason": "once more"})
    assert (again.status_code, again.json()["code"]) == (409, 4482), again.text
    assert again.json()["data"] == {"refundable_cents": 0}
    assert len(creem_stand_in.refunds()) == asked + 2
    assert await refunded(db, made["order_id"]) == ("completed", paid, 1)
    await assert_ledger_balanced(db)


async def test_a_creem_refund_whose_answer_was_lost_is_pending_then_finished_once_by_the_worker(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    products: dict[str, str],
    billing_settings: Settings,
) -> None:
    api, admin = billing_client, admin_client
    merchant = await make_merchant("live")
    made, transaction_id = await _paid(api, creem_stand_in, merchant)
    path, asked = f"/orders/{made['order_id']}/refund", len(creem_stand_in.refunds())
    paid = made["amount_cents"]

    # Creem refunds, but its answer does not come back: the refund stays pending, the wallet
    # debited, and the order refunded as far as anyone can ask again.
    creem_stand_in.refund_lost_with = 500
    try:
        lost = await admin.post(path, json={"reason": "payer asked"})
    finally:
        creem_stand_in.refund_lost_with = None
    assert (lost.status_code, lost.json()["code"]) == (202, 1160), lost.text
    pending = lost.json()["data"]
    assert (pending["status"], pending["refund_id"], pending["debit_cents"]) == (
        "pending",
        None,
        made["credit_cents"],
    )
    assert await channels.balance(api, merchant) == 0
    assert await refunded(db, made["order_id"]) == ("completed", paid, 1)
    again = await admin.post(path, json={"reason": "payer asked"})
    assert (again.status_code, again.json()["code"]) == (409, 4482), again.text

    # The worker asks again: the transaction is refunded already, so that refund is recorded,
    # once, and Creem is not asked for another.
    [tried] = await finish_refunds(db, billing_settings, made["order_id"])
    assert tried.status == "succeeded"
    assert (tried.data.refund_id, tried.data.provider_status) == (transaction_id, "refunded")
    assert creem_stand_in.refunds()[asked:] == [transaction_id]
    assert await finish_refunds(db, billing_settings, made["order_id"]) == []
    assert await channels.balance(api, merchant) == 0
    assert await refunded(db, made["order_id"]) == ("completed", paid, 1)
    assert len(await events_of(db, merchant.merchant_id, "wallet.debited")) == 1
    await assert_ledger_balanced(db)


async def test_a_checkout_id_creem_gave_before_is_refused_and_makes_nothing(
    billing_client: httpx.AsyncClient,
    creem_stand_in: CreemStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    products: dict[str, str],
) -> None:
    """A provider answering a session id another order holds (its id space is its own) gets
    the envelope with its code, never a 500 (9001), and no order, coupon use or entry."""
    api = billing_client
    first, second = await make_merchant("live"), await make_merchant("live")
    repeated = creem_stand_in.checkout_id = "ch_" + uuid.uuid4().hex[:20]
    try:
        made = await channels.checkout(api, first, "creem")
        before = await row_counts(db)
        again = await _checkout(api, second, pack_id="pack_starter")
        custom = await _checkout(api, first, amount_cents=700)
    finally:
        creem_stand_in.checkout_id = None
    assert channels.provider_id(made) == repeated
    for refused in (again, custom):
        assert (refused.status_code, refused.json()["code"]) == (502, 4161), refused.text
        assert refused.json()["success"] is False
    assert await row_counts(db) == before
    listed = await api.get("/orders", headers=second.headers)
    assert listed.json()["data"] == []
