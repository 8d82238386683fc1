"""The billing profile's routes and the numbered receipt, with its PDF read back; on both
stores."""

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pypdf
import pytest
from sqlalchemy import select

from gateway.billing import orders
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, ReceiptSeries, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.billing import insert_orders, order_row, stripe_headers
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.merchants import MakeMerchant, MerchantKey, add_member
from tests.fixtures.stripe import WEBHOOK_SECRET, StripeStandIn

_O = table_of(FundingOrder)
_RS = table_of(ReceiptSeries)

PROFILE = {
    "legal_name": "Łódź Handel Sp. z o.o.",
    "address_line1": "ul. Piotrkowska 1",
    "address_line2": "Floor 2",
    "city": "Łódź",
    "postal_code": "90-001",
    "country": "pl",
    "tax_id": "PL1234567890",
}


async def _profile(client: httpx.AsyncClient, key: MerchantKey) -> dict[str, Any]:
    reply = await client.get("/billing/profile", headers=key.headers)
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()["data"]
    return found


async def _put(client: httpx.AsyncClient, key: MerchantKey, body: Any) -> httpx.Response:
    return await client.put("/billing/profile", json=body, headers=key.headers)


async def _paid_sandbox_order(client: httpx.AsyncClient, key: MerchantKey) -> str:
    made = await client.post("/billing/checkout", json={"pack_id": "pack_pro"}, headers=key.headers)
    assert made.status_code == 201, made.text
    data = made.json()["data"]
    pay = data["checkout_url"].replace("?token=", "/pay?token=")
    paid = await client.post(pay, headers={"Accept": "application/json"})
    assert paid.status_code == 200, paid.text
    order_id: str = data["order_id"]
    return order_id


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_the_profile_is_saved_with_a_live_key_and_read_by_every_key(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant("live")
    staging = await make_merchant("staging", merchant_id=live.merchant_id)
    empty = await _profile(billing_client, staging)
    assert empty["legal_name"] is None and empty["updated_at"] is None

    refused = await _put(billing_client, staging, PROFILE)
    assert (refused.status_code, refused.json()["code"]) == (403, 4350)
    assert (await _profile(billing_client, live))["legal_name"] is None

    saved = await _put(billing_client, live, PROFILE)
    assert (saved.status_code, saved.json()["code"]) == (200, 1150), saved.text
    assert saved.json()["data"]["country"] == "PL"
    for key in (live, staging):  # one legal identity, whichever environment reads it
        found = await _profile(billing_client, key)
        assert (found["legal_name"], found["city"], found["tax_id"]) == (
            "Łódź Handel Sp. z o.o.",
            "Łódź",
            "PL1234567890",
        )
    other = await make_merchant("live")
    assert (await _profile(billing_client, other))["legal_name"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "POL"}, "country"),
        ({"legal_name": "   "}, "legal_name"),
        ({"legal_name": "x" * 201}, "legal_name"),
        ({"tax_id": "DE 123; DROP"}, "tax_id"),
        ({"postal_code": "1" * 21}, "postal_code"),
        ({"legal_name": 12}, "legal_name"),
        ({"nickname": "x"}, "nickname"),
        ({"address_line1": None}, "address_line1"),
    ],
)
# A NUL in any field is refused before the profile's rules see it (3103): test_bad_input.py.
async def test_bad_profile_input_is_refused_and_changes_nothing(
    billing_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    change: dict[str, Any],
    field: str,
) -> None:
    live = await make_merchant("live")
    assert (await _put(billing_client, live, PROFILE)).status_code == 200
    before = await _profile(billing_client, live)
    reply = await _put(billing_client, live, {**PROFILE, **change})
    body = reply.json()
    assert (reply.status_code, body["code"], body["success"]) == (422, 3001, False), body
    assert field in str(body["data"]["errors"])
    assert await _profile(billing_client, live) == before


async def test_malformed_profile_bodies_get_the_envelope(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant("live")
    for content, media in ((b"{", "application/json"), (b"[]", "application/json")):
        reply = await billing_client.put(
            "/billing/profile", content=content, headers={**live.headers, "Content-Type": media}
        )
        assert reply.status_code in (400, 422), reply.text
        assert reply.json()["success"] is False
    plain = await billing_client.put("/billing/profile", content=b"x", headers=live.headers)
    assert plain.json()["success"] is False
    assert (await _profile(billing_client, live))["legal_name"] is None


async def test_a_receipt_carries_its_number_and_the_profile_as_it_was_when_paid(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live", merchant_id=staging.merchant_id)
    assert (await _put(billing_client, live, PROFILE)).status_code == 200
    order_id = await _paid_sandbox_order(billing_client, staging)
    changed = {**PROFILE, "legal_name": "New Name Ltd", "country": "GB", "city": "London"}
    assert (await _put(billing_client, live, changed)).status_code == 200

    reply = await billing_client.get(f"/orders/{order_id}/receipt", headers=staging.headers)
    assert reply.status_code == 200, reply.text
    receipt = reply.json()["data"]
    assert receipt["numbered"] is True
    assert receipt["receipt_number"].startswith("STG-")
    assert len(receipt["receipt_number"]) == len("STG-000001")
    assert receipt["order_id"] == order_id
    assert receipt["billed_to"]["legal_name"] == "Łódź Handel Sp. z o.o."
    assert receipt["billed_to"]["country"] == "PL"
    assert receipt["pdf_url"] == (
        f"http://gateway.test/api/public/v1/orders/{order_id}/receipt.pdf"
    )
    assert receipt["html_url"] == (
        f"http://gateway.test/dashboard/wallet/orders/{order_id}/receipt"
    )

    pdf = await billing_client.get(f"/orders/{order_id}/receipt.pdf", headers=staging.headers)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    number = receipt["receipt_number"]
    assert f'filename="receipt-{number}.pdf"' in pdf.headers["content-disposition"]
    text = _pdf_text(pdf.content)
    assert f"Receipt {number}" in text
    assert "Łódź Handel Sp. z o.o." in text and "90-001 Łódź" in text
    assert "PL1234567890" in text
    assert "New Name Ltd" not in text  # the profile as it was when paid
    assert "20.00 USD" in text and "25.00 USD" in text  # paid, credited (the Pro pack)
    assert order_id in text


async def test_receipts_of_others_and_of_the_other_env_are_not_found(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    live = await make_merchant("live")
    staging = await make_merchant("staging", merchant_id=live.merchant_id)
    stranger = await make_merchant("live")
    row = order_row(live.merchant_id, pack_name="Custom amount")
    order_id = row["id"]
    row["provider_session_id"] = f"cs_test_{order_id}"
    now = utcnow()
    async with db.transaction() as conn:
        await insert_orders(conn, [row])
        paid = orders.Paid("stripe", f"cs_test_{order_id}", 500, "usd")
        assert (await orders.complete_order(conn, order_id, paid, now)).result == "credited"

    mine = await billing_client.get(f"/orders/{order_id}/receipt", headers=live.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["data"]["receipt_number"].startswith("LIVE-")
    assert mine.json()["data"]["billed_to"] is None  # no profile when it was paid
    for key in (staging, stranger):
        for path in (f"/orders/{order_id}/receipt", f"/orders/{order_id}/receipt.pdf"):
            reply = await billing_client.get(path, headers=key.headers)
            assert (reply.status_code, reply.json()["code"]) == (404, 4130), path
    odd = await billing_client.get("/orders/ord_x/receipt.pdf", headers=live.headers)
    assert (odd.status_code, odd.json()["code"]) == (404, 4130)


async def test_an_unpaid_order_has_no_pdf_and_an_old_one_keeps_its_order_id(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    staging = await make_merchant("staging")
    made = await billing_client.post(
        "/billing/checkout", json={"pack_id": "pack_pro"}, headers=staging.headers
    )
    pending = made.json()["data"]["order_id"]
    reply = await billing_client.get(f"/orders/{pending}/receipt.pdf", headers=staging.headers)
    assert (reply.status_code, reply.json()["code"]) == (409, 4153)

    # Paid before numbering began: completed with no receipt row.
    now = utcnow()
    row = order_row(
        staging.merchant_id,
        env="staging",
        status="completed",
        cents=2000,
        credits=25000,
        credit_cents=2500,
        pack_name="Pro",
        completed_at=now,
    )
    old = row["id"]
    async with db.transaction() as conn:
        await insert_orders(conn, [row])
    receipt = (await billing_client.get(f"/orders/{old}/receipt", headers=staging.headers)).json()
    assert (receipt["data"]["receipt_number"], receipt["data"]["numbered"]) == (old, False)
    pdf = await billing_client.get(f"/orders/{old}/receipt.pdf", headers=staging.headers)
    assert f"Receipt {old}" in _pdf_text(pdf.content)


@pytest.fixture
async def stripe_api(stripe_stood_in_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(stripe_stood_in_settings) as app, asgi_client(app) as http:
        yield http


async def test_a_live_payment_is_numbered_once_by_the_webhook_whatever_comes_after(
    stripe_api: httpx.AsyncClient, stripe_stand_in: StripeStandIn, make_merchant: MakeMerchant
) -> None:
    """Stripe's event pays and numbers the order; the same event again, and a check that
    finds it paid, number nothing more."""
    live = await make_merchant("live")
    body = {"pack_id": "pack_starter", "success_url": "https://merchant.example/ok"}
    made = await stripe_api.post("/billing/checkout", json=body, headers=live.headers)
    assert made.status_code == 201, made.text
    order_id = made.json()["data"]["order_id"]
    session = stripe_stand_in.pay(stripe_stand_in.session_of(order_id)["id"])
    payload = stripe_stand_in.event("checkout.session.completed", session)
    for _ in range(2):
        reply = await stripe_api.post(
            "/payments/stripe/webhook",
            content=payload.encode(),
            headers=stripe_headers(payload, secret=WEBHOOK_SECRET),
        )
        assert reply.status_code == 200, reply.text
    checked = await stripe_api.post(f"/orders/{order_id}/check", headers=live.headers)
    assert checked.status_code == 200, checked.text

    receipt = await stripe_api.get(f"/orders/{order_id}/receipt", headers=live.headers)
    data = receipt.json()["data"]
    assert data["numbered"] is True and data["receipt_number"].startswith("LIVE-")
    assert data["payment_reference"] == session["payment_intent"]
    before = data["receipt_number"]
    again = await stripe_api.get(f"/orders/{order_id}/receipt", headers=live.headers)
    assert again.json()["data"]["receipt_number"] == before


async def _last_number(db: Database, env: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(select(_RS.c.last_number).where(_RS.c.env == env))
        return int(found.scalar() or 0)


async def test_an_invoice_order_paid_by_invoice_paid_is_numbered_with_the_profile_then(
    stripe_api: httpx.AsyncClient,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """Stripe's ``invoice.paid`` completes an invoice order through ``complete_order``, which
    numbers it in the live series; its receipt keeps the profile as it was when paid."""
    live = await make_merchant("live")
    assert (await _put(stripe_api, live, PROFILE)).status_code == 200
    email = await add_member(db, live.merchant_id)
    made = await stripe_api.post(
        "/billing/invoice", json={"pack_id": "pack_pro", "email": email}, headers=live.headers
    )
    assert made.status_code == 201, made.text
    order = made.json()["data"]
    assert order["kind"] == "invoice"
    unpaid = await stripe_api.get(f"/orders/{order['id']}/receipt", headers=live.headers)
    assert (unpaid.status_code, unpaid.json()["code"]) == (409, 4153)

    before = {env: await _last_number(db, env) for env in ("staging", "live")}
    paid = stripe_stand_in.pay_invoice(order["provider_reference"])
    payload = stripe_stand_in.event("invoice.paid", dict(paid))
    for _ in range(2):  # delivered again: still one number
        sent = await stripe_api.post(
            "/payments/stripe/webhook",
            content=payload.encode(),
            headers=stripe_headers(payload, secret=WEBHOOK_SECRET),
        )
        assert sent.status_code == 200, sent.text
    after = {env: await _last_number(db, env) for env in ("staging", "live")}
    assert after == {"staging": before["staging"], "live": before["live"] + 1}
    changed = {**PROFILE, "legal_name": "New Name Ltd", "country": "GB", "city": "London"}
    assert (await _put(stripe_api, live, changed)).status_code == 200

    reply = await stripe_api.get(f"/orders/{order['id']}/receipt", headers=live.headers)
    assert reply.status_code == 200, reply.text
    receipt = reply.json()["data"]
    number = receipt["receipt_number"]
    assert (number, receipt["numbered"], receipt["source"]) == (
        f"LIVE-{after['live']:06d}",
        True,
        "order",
    )
    assert receipt["order_id"] == order["id"]
    assert receipt["payment_reference"] == paid["id"]  # the invoice: it has no PaymentIntent
    assert receipt["amount_paid_cents"] == 2000 and receipt["credit_cents"] == 2500
    assert receipt["billed_to"]["legal_name"] == "Łódź Handel Sp. z o.o."
    assert (receipt["billed_to"]["city"], receipt["billed_to"]["country"]) == ("Łódź", "PL")

    pdf = await stripe_api.get(f"/orders/{order['id']}/receipt.pdf", headers=live.headers)
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert f'filename="receipt-{number}.pdf"' in pdf.headers["content-disposition"]
    text = _pdf_text(pdf.content)
    assert f"Receipt {number}" in text
    assert "Łódź Handel Sp. z o.o." in text and "90-001 Łódź" in text
    assert "PL1234567890" in text
    assert "New Name Ltd" not in text and "London" not in text  # as it was when paid
    assert "20.00 USD" in text and "25.00 USD" in text
    assert order["id"] in text and paid["id"] in text


async def test_receipt_pdfs_are_limited_per_merchant_and_environment(
    billing_settings: Settings, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant("staging")
    other = await make_merchant("staging")
    limited = billing_settings.model_copy(update={"receipt_pdfs_per_minute": 2})
    async with running_app(limited) as app, asgi_client(app) as client:
        order = await _paid_sandbox_order(client, staging)
        theirs = await _paid_sandbox_order(client, other)
        path = f"/orders/{order}/receipt.pdf"
        drawn = [await client.get(path, headers=staging.headers) for _ in range(2)]
        assert [r.status_code for r in drawn] == [200, 200]
        assert drawn[1].headers["ratelimit-remaining"] == "0"
        refused = await client.get(path, headers=staging.headers)
        assert (refused.status_code, refused.json()["code"]) == (429, 4351)
        assert int(refused.headers["retry-after"]) > 0
        # Another merchant's PDFs are counted apart.
        mine = await client.get(f"/orders/{theirs}/receipt.pdf", headers=other.headers)
        assert mine.status_code == 200
