"""A subscription's paid periods and their receipts: listed in the environment they were paid
in, each with its number of the environment's series and the billing profile as it was when
paid, as JSON and as a PDF read back, drawn as an order's receipt is."""

import io
from datetime import datetime

import httpx
import pypdf

from gateway.billing.channels.providers.sandbox import add_interval
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.subscriptions import MakePlan, bought_in_sandbox

PROFILE = {
    "legal_name": "Ærøskøbing Handel ApS",
    "address_line1": "Vestergade 1",
    "city": "Ærøskøbing",
    "postal_code": "5970",
    "country": "DK",
    "tax_id": "DK12345678",
}


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def _path(url: str) -> str:
    """An absolute link of the API, as the client (based at the API's root) asks it."""
    return httpx.URL(url).path.removeprefix("/api/public/v1")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_each_paid_period_is_listed_with_its_receipt_as_it_was_when_paid(
    sub_api: httpx.AsyncClient, make_plan: MakePlan, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant("live")
    staging = await make_merchant("staging", merchant_id=live.merchant_id)
    saved = await sub_api.put("/billing/profile", json=PROFILE, headers=live.headers)
    assert saved.status_code == 200, saved.text
    _, plan, sub_id = await bought_in_sandbox(
        sub_api, make_plan, make_merchant, merchant=staging, credits_included=700
    )
    renamed = {**PROFILE, "legal_name": "Renamed Later ApS"}
    assert (await sub_api.put("/billing/profile", json=renamed, headers=live.headers)).is_success
    moved = await sub_api.post(
        "/sandbox/clock/advance", json={"seconds": 32 * 86_400}, headers=staging.headers
    )
    assert moved.status_code == 200, moved.text

    listed = await sub_api.get("/subscription/invoices", headers=staging.headers)
    assert listed.status_code == 200, listed.text
    second, first = listed.json()["data"]
    assert listed.json()["meta"] == {"limit": 20, "offset": 0, "total": 2, "has_more": False}
    for period in (first, second):
        assert (period["subscription_id"], period["plan_id"]) == (sub_id, plan["id"])
        assert (period["plan"], period["interval"], period["status"]) == ("Pro", "month", "paid")
        assert (period["amount_cents"], period["credit_cents"]) == (plan["price_monthly"], 700)
        assert period["receipt_number"].startswith("STG-")
    # The second period starts where the first ended, and runs a calendar month.
    assert first["period_start"] == first["paid_at"]
    assert second["period_start"] == first["period_end"]
    assert _at(second["period_end"]) == add_interval(_at(first["period_end"]), "month")
    assert int(second["receipt_number"][4:]) > int(first["receipt_number"][4:])
    paged = await sub_api.get("/subscription/invoices?limit=1&offset=1", headers=staging.headers)
    assert [p["id"] for p in paged.json()["data"]] == [first["id"]]

    receipts = {}
    for period in (first, second):
        reply = await sub_api.get(_path(period["receipt_url"]), headers=staging.headers)
        assert reply.status_code == 200, reply.text
        receipts[period["id"]] = reply.json()["data"]
    one, two = receipts[first["id"]], receipts[second["id"]]
    assert (one["source"], one["invoice_id"], one["order_id"]) == (
        "subscription_period",
        first["id"],
        None,
    )
    assert (one["receipt_number"], one["numbered"]) == (first["receipt_number"], True)
    assert (one["period_start"], one["period_end"]) == (first["period_start"], first["period_end"])
    assert (one["amount_paid_cents"], one["credit_cents"]) == (plan["price_monthly"], 700)
    assert one["item"] == "Pro plan, billed monthly"
    # The profile as it was when each was paid.
    assert one["billed_to"]["legal_name"] == PROFILE["legal_name"]
    assert two["billed_to"]["legal_name"] == "Renamed Later ApS"
    assert one["pdf_url"] == first["receipt_pdf_url"]

    pdf = await sub_api.get(_path(first["receipt_pdf_url"]), headers=staging.headers)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert f'filename="receipt-{first["receipt_number"]}.pdf"' in pdf.headers["content-disposition"]
    text = _pdf_text(pdf.content)
    assert f"Receipt {first['receipt_number']}" in text
    assert PROFILE["legal_name"] in text and "Renamed Later" not in text
    assert sub_id in text and "Pro plan, billed monthly" in text


async def test_periods_of_others_and_of_the_other_env_are_not_found(
    sub_api: httpx.AsyncClient, make_plan: MakePlan, make_merchant: MakeMerchant
) -> None:
    staging, _, _ = await bought_in_sandbox(sub_api, make_plan, make_merchant)
    live = await make_merchant("live", merchant_id=staging.merchant_id)
    stranger = await make_merchant("staging")
    period = (await sub_api.get("/subscription/invoices", headers=staging.headers)).json()["data"]
    invoice_id = period[0]["id"]
    for key in (live, stranger):
        listed = await sub_api.get("/subscription/invoices", headers=key.headers)
        assert listed.json()["data"] == []
        for tail in ("receipt", "receipt.pdf"):
            path = f"/subscription/invoices/{invoice_id}/{tail}"
            reply = await sub_api.get(path, headers=key.headers)
            assert (reply.status_code, reply.json()["code"]) == (404, 4360), path
    odd = await sub_api.get("/subscription/invoices/in-x.y/receipt", headers=staging.headers)
    assert (odd.status_code, odd.json()["code"]) == (404, 4360)
    for query in ("limit=0", "limit=101", "offset=-1", "page=2"):
        bad = await sub_api.get(f"/subscription/invoices?{query}", headers=staging.headers)
        assert (bad.status_code, bad.json()["code"]) == (422, 3006), query
