"""MyFatoorah end to end, through its stand-in, on both stores: the operator enables it, a live
merchant checks out, the order records the charge in KWD beside the credit, the payer pays on
MyFatoorah's page and lands on the gateway's return (which asks ``GetPaymentStatus`` itself),
the v2 webhook credits once however often and in whatever order it comes (one ``order.paid``,
with the KWD charge), a lost one is found by reconciliation, and forged, stale, changed and
another's notifications credit nothing, the refused ones without a trace and logged once."""

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.billing.settling import reconcile
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures import channels
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.myfatoorah import TOKEN, WEBHOOK_SECRET, MyFatoorahStandIn
from tests.fixtures.rows import row_counts
from tests.fixtures.webhooks import events_of

WEBHOOK = "/payment/webhook/myfatoorah"


@pytest.fixture
async def enabled(admin_client: httpx.AsyncClient, myfatoorah_stand_in: MyFatoorahStandIn) -> None:
    credentials = {
        "token": TOKEN,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": myfatoorah_stand_in.url,
        "currency": "KWD",
    }
    await channels.enable(admin_client, "myfatoorah", credentials, secrets=(TOKEN, WEBHOOK_SECRET))


async def _notify(
    api: httpx.AsyncClient, notification: tuple[dict[str, Any], dict[str, str]]
) -> httpx.Response:
    body, headers = notification
    return await api.post(WEBHOOK, content=json.dumps(body).encode(), headers=headers)


@pytest.mark.usefixtures("enabled")
async def test_paid_on_myfatoorah_s_page_returned_notified_credited_once(
    billing_client: httpx.AsyncClient,
    myfatoorah_stand_in: MyFatoorahStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    api = billing_client
    merchant = await make_merchant("live")
    info = (await api.get("/billing/topup-info", headers=merchant.headers)).json()["data"]
    assert "myfatoorah" in {c["channel"] for c in info["channels"]}

    made = await channels.checkout(api, merchant, "myfatoorah")
    assert made["checkout_url"].startswith(f"{myfatoorah_stand_in.url}/pay/")
    order = await channels.order(api, merchant, made["order_id"])
    # $5.00 at 0.307 KWD a dollar: 1.535 KWD, charged in fils; 500 cents credited.
    assert (order["charge_minor"], order["charge_currency"], order["charge_rate"]) == (
        1535,
        "KWD",
        "0.307",
    )
    assert (order["amount_cents"], order["currency"], order["credit_cents"]) == (
        500,
        "USD",
        made["credit_cents"],
    )

    # A made-up return proves nothing: the gateway asks MyFatoorah, which says not paid.
    forged = await api.get(
        f"/billing/checkout/return?order={made['order_id']}&paymentId=0707123&Id=0707123"
    )
    assert forged.status_code in (200, 303), forged.text
    assert (await channels.order(api, merchant, made["order_id"]))["status"] == "pending"
    assert await channels.balance(api, merchant) == 0

    # The payer's page: pay there, come back to the gateway's return.
    await channels.paid_on_the_page(api, made, "5.00 USD")
    assert await channels.balance(api, merchant) == made["credit_cents"]

    # MyFatoorah's webhook then, twice at once and again: the order was credited already.
    invoice = channels.provider_id(made)
    await channels.sent_at_once(3, lambda: _notify(api, myfatoorah_stand_in.notification(invoice)))
    order = await channels.order(api, merchant, made["order_id"])
    assert order["status"] == "completed" and order["provider_payment_id"]
    receipt = await api.get(f"/orders/{made['order_id']}/receipt", headers=merchant.headers)
    assert receipt.status_code == 200, receipt.text
    paid = await channels.credited_once(api, db, merchant, made)
    # order.paid says what was charged in KWD beside what was credited, and the receipt.
    assert (paid["charge_minor"], paid["charge_currency"], paid["charge_rate"]) == (
        1535,
        "KWD",
        "0.307",
    )
    assert (paid["amount_cents"], paid["currency"], paid["channel"]) == (500, "USD", "myfatoorah")
    assert paid["receipt_number"] == receipt.json()["data"]["receipt_number"]


@pytest.mark.usefixtures("enabled")
async def test_the_webhook_credits_once_whatever_the_order_of_reports(
    billing_client: httpx.AsyncClient,
    myfatoorah_stand_in: MyFatoorahStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    api = billing_client
    merchant = await make_merchant("live")
    made = await channels.checkout(api, merchant, "myfatoorah")
    invoice = channels.provider_id(made)
    myfatoorah_stand_in.fail_attempt(invoice)
    declined = myfatoorah_stand_in.notification(invoice)
    myfatoorah_stand_in.pay(invoice)
    succeeded = myfatoorah_stand_in.notification(invoice)

    # A copy with its (unsigned) amount changed comes first: refused as a mismatch, and it
    # cannot take the genuine report's place.
    changed = json.loads(json.dumps(succeeded[0]))
    changed["Data"]["Amount"]["ValueInBaseCurrency"] = "0.001"
    assert (await _notify(api, (changed, succeeded[1]))).status_code == 200
    assert await channels.balance(api, merchant) == 0
    # The success then, five copies at once: credited once.
    await channels.sent_at_once(5, lambda: _notify(api, succeeded))
    assert await channels.balance(api, merchant) == made["credit_cents"]
    # The declined attempt's report arrives late: it changes nothing.
    assert (await _notify(api, declined)).status_code == 200
    # The success resent later, with a new date and reference (neither is signed): a repeat.
    body, headers = myfatoorah_stand_in.notification(invoice)
    assert body["Event"]["Reference"] != succeeded[0]["Event"]["Reference"]
    assert (await _notify(api, (body, headers))).status_code == 200
    assert (await channels.order(api, merchant, made["order_id"]))["status"] == "completed"
    await channels.credited_once(api, db, merchant, made)


@pytest.mark.usefixtures("enabled")
async def test_a_lost_notification_is_found_by_reconciliation(
    billing_client: httpx.AsyncClient,
    myfatoorah_stand_in: MyFatoorahStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    billing_settings: Settings,
) -> None:
    api = billing_client
    merchant = await make_merchant("live")
    made = await channels.checkout(api, merchant, "myfatoorah")
    unpaid = await channels.checkout(api, merchant, "myfatoorah")
    myfatoorah_stand_in.pay(channels.provider_id(made))  # the webhook never comes

    later = utcnow() + timedelta(seconds=billing_settings.reconcile_after_seconds + 1)
    due = await reconcile.due(db, billing_settings, later)
    assert made["order_id"] in due and unpaid["order_id"] in due
    checked = await reconcile.check(db, billing_settings, made["order_id"])
    assert checked.settlement.result == "credited"
    assert checked.looked is not None and checked.looked.state == "paid"
    left = await reconcile.check(db, billing_settings, unpaid["order_id"])
    assert left.settlement.result == "open"
    # The notification turns up after all: nothing more.
    reply = await _notify(api, myfatoorah_stand_in.notification(channels.provider_id(made)))
    assert reply.status_code == 200
    assert await channels.balance(api, merchant) == made["credit_cents"]
    await channels.paid_once(db, merchant.merchant_id, made["order_id"], made["credit_cents"])
    await assert_ledger_balanced(db)


@pytest.mark.usefixtures("enabled")
async def test_forged_stale_changed_and_another_s_notifications_credit_nothing(
    billing_client: httpx.AsyncClient,
    myfatoorah_stand_in: MyFatoorahStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = billing_client
    merchant = await make_merchant("live")
    other = await make_merchant("live")
    made = await channels.checkout(api, merchant, "myfatoorah")
    theirs = await channels.checkout(api, other, "myfatoorah")
    invoice = channels.provider_id(made)
    myfatoorah_stand_in.pay(invoice)

    refused = {
        "another account's secret": myfatoorah_stand_in.notification(
            invoice, secret="another-account-secret"
        ),
        "stale": myfatoorah_stand_in.notification(
            invoice, created=datetime.now(UTC) - timedelta(hours=2)
        ),
    }
    body, headers = myfatoorah_stand_in.notification(invoice)
    body["Data"]["Invoice"]["Id"] = channels.provider_id(theirs)  # a signed field changed
    refused["a signed field changed"] = (body, headers)
    body, headers = myfatoorah_stand_in.notification(invoice)
    refused["unsigned"] = (body, {"Content-Type": "application/json"})
    for case, notification in refused.items():
        reply = await channels.refused_once(caplog, _notify(api, notification))
        assert (reply.status_code, reply.json()["code"]) == (400, 4404), case

    # The amount changed on the way (it is not signed): verified, matched, not credited.
    body, headers = myfatoorah_stand_in.notification(invoice)
    body["Data"]["Amount"]["ValueInBaseCurrency"] = "0.100"
    assert (await _notify(api, (body, headers))).status_code == 200
    assert (await channels.order(api, merchant, made["order_id"]))["status"] == "pending"

    # MyFatoorah naming another merchant's order for this invoice: not that order's invoice.
    myfatoorah_stand_in.invoices[invoice]["_external"] = theirs["order_id"]
    assert (await _notify(api, myfatoorah_stand_in.notification(invoice))).status_code == 200
    assert (await channels.order(api, other, theirs["order_id"]))["status"] == "pending"

    assert await channels.balance(api, merchant) == 0 and await channels.balance(api, other) == 0
    await assert_ledger_balanced(db)


@pytest.mark.usefixtures("enabled")
async def test_without_external_identifier_the_signed_invoice_still_decides(
    billing_client: httpx.AsyncClient,
    myfatoorah_stand_in: MyFatoorahStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """An account whose notifications leave ``ExternalIdentifier`` empty: the order id comes
    from the unsigned ``UserDefinedField``, and the signed invoice id must be that order's."""
    api = billing_client
    merchant = await make_merchant("live")
    other = await make_merchant("live")
    made = await channels.checkout(api, merchant, "myfatoorah")
    theirs = await channels.checkout(api, other, "myfatoorah")
    invoice = channels.provider_id(made)
    myfatoorah_stand_in.invoices[invoice]["_external"] = None
    myfatoorah_stand_in.pay(invoice)

    body, headers = myfatoorah_stand_in.notification(invoice)
    body["Data"]["Invoice"]["UserDefinedField"] = theirs["order_id"]
    body["Data"]["Customer"]["Reference"] = theirs["order_id"]
    assert (await _notify(api, (body, headers))).status_code == 200
    assert await channels.balance(api, other) == 0 and await channels.balance(api, merchant) == 0

    assert (await _notify(api, myfatoorah_stand_in.notification(invoice))).status_code == 200
    assert await channels.balance(api, merchant) == made["credit_cents"]
    assert (await channels.order(api, other, theirs["order_id"]))["status"] == "pending"
    await channels.paid_once(db, merchant.merchant_id, made["order_id"], made["credit_cents"])
    assert await events_of(db, other.merchant_id, "order.paid") == []
    await assert_ledger_balanced(db)


async def test_staging_pays_myfatoorah_through_the_sandbox_page_titled_for_it(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    myfatoorah_stand_in: MyFatoorahStandIn,
    make_merchant: MakeMerchant,
) -> None:
    await channels.enable(admin_client, "myfatoorah", env="staging")
    merchant = await make_merchant("staging")
    before = len(myfatoorah_stand_in.invoices)
    made = await channels.checkout(billing_client, merchant, "myfatoorah")
    page = await channels.sandbox_page(billing_client, made, "myfatoorah")
    assert "MyFatoorah" in page and "KNET" in page
    assert len(myfatoorah_stand_in.invoices) == before  # staging never reaches MyFatoorah


@pytest.mark.usefixtures("enabled")
async def test_a_report_resent_with_other_unsigned_values_is_one_row_and_one_warning(
    billing_client: httpx.AsyncClient,
    myfatoorah_stand_in: MyFatoorahStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MyFatoorah signs five fields: copies of one genuine report with other unsigned values
    (amounts, the event's reference, the unsigned order id) are one report, one event row,
    said once at warning and never at error; the genuine copy still credits, once."""
    api = billing_client
    merchant = await make_merchant("live")
    made = await channels.checkout(api, merchant, "myfatoorah")
    invoice = channels.provider_id(made)
    myfatoorah_stand_in.pay(invoice)
    genuine = myfatoorah_stand_in.notification(invoice)
    before = await row_counts(db)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway"):
        for n in range(6):
            changed = json.loads(json.dumps(genuine[0]))
            changed["Data"]["Amount"]["ValueInBaseCurrency"] = f"0.{n:03d}"
            changed["Event"]["Reference"] = f"WH-{n}"
            changed["Data"]["Invoice"]["UserDefinedField"] = f"ord_{n}"
            assert (await _notify(api, (changed, genuine[1]))).status_code == 200
    said = [r for r in caplog.records if r.name.startswith("gateway")]
    assert [r.levelno for r in said] == [logging.WARNING], [r.getMessage() for r in said]
    assert (await row_counts(db))["payment_notices"] == before["payment_notices"] + 1
    assert (await channels.order(api, merchant, made["order_id"]))["status"] == "pending"
    assert await channels.balance(api, merchant) == 0

    # The genuine copy then: it takes its report's place, credited once however often sent.
    await channels.sent_at_once(3, lambda: _notify(api, genuine))
    assert (await row_counts(db))["payment_notices"] == before["payment_notices"] + 1
    await channels.credited_once(api, db, merchant, made)
