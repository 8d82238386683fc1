"""The billing profile on the settings page (an owner's form, CSRF enforced, refused field by
field with the input kept) and the receipt page's number, profile and PDF link."""

import io
import re
from html import unescape
from urllib.parse import urlsplit

import httpx
import pypdf
from starlette.types import ASGIApp

from tests.fixtures.dashboard import Account, SignUp, join_as

PROFILE = {
    "legal_name": "Acme Credits GmbH",
    "address_line1": "Hauptstraße 1",
    "address_line2": "",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "de",
    "tax_id": "DE123456789",
}


def _value(html: str, name: str) -> str:
    found = re.search(rf'<input id="{name}" name="{name}" value="([^"]*)"', html)
    assert found is not None, name
    return unescape(found.group(1))


def _field_error(html: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', html)
    return unescape(found.group(1)) if found else None


async def _pay_custom(account: Account, client: httpx.AsyncClient, dollars: str) -> str:
    reply = await account.post(
        "/wallet/checkout", {"pack_id": "custom", "amount": dollars}, page="/wallet"
    )
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    paid = await client.post(location.replace("?", "/pay?"))
    assert paid.status_code == 303
    return urlsplit(location).path.rsplit("/", 1)[-1]


async def test_an_owner_saves_the_profile_and_the_receipt_keeps_it_as_paid(
    sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    owner = await sign_up()
    saved = await owner.post("/settings/billing-profile", PROFILE, page="/settings")
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/dashboard/settings?saved=billing"
    page = (await owner.client.get("/settings")).text
    assert "Billing profile saved" not in page
    assert _value(page, "legal_name") == "Acme Credits GmbH"
    assert (_value(page, "country"), _value(page, "address_line2")) == ("DE", "")

    order_id = await _pay_custom(owner, client, "25")
    changed = {**PROFILE, "legal_name": "Renamed Ltd", "country": "GB", "city": "London"}
    assert (
        await owner.post("/settings/billing-profile", changed, page="/settings")
    ).status_code == 303

    receipt = await owner.client.get(f"/wallet/orders/{order_id}/receipt")
    assert receipt.status_code == 200, receipt.text
    number = re.search(r"<code>(STG-\d{6})</code>", receipt.text)
    assert number is not None
    billed = re.search(r'<address id="billed-to">(.*?)</address>', receipt.text, re.S)
    assert billed is not None
    assert "Acme Credits GmbH" in billed.group(1) and "Renamed" not in billed.group(1)
    link = re.search(r'<a id="receipt-pdf" href="([^"]+)"', receipt.text)
    assert link is not None
    assert link.group(1) == f"/dashboard/wallet/orders/{order_id}/receipt.pdf"

    pdf = await owner.client.get(link.group(1).removeprefix("/dashboard"))
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    text = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert f"Receipt {number.group(1)}" in text
    assert "Acme Credits GmbH" in text and "Hauptstraße 1" in text and "10115 Berlin" in text
    assert "Renamed" not in text and "25.00 USD" in text


async def test_bad_input_is_refused_field_by_field_and_nothing_changes(
    sign_up: SignUp,
) -> None:
    owner = await sign_up()
    assert (
        await owner.post("/settings/billing-profile", PROFILE, page="/settings")
    ).status_code == 303
    bad = {
        **PROFILE,
        "legal_name": "",
        "country": "XX",
        "tax_id": "DE<script>",
        "city": "B" * 101,
    }
    refused = await owner.post("/settings/billing-profile", bad, page="/settings")
    assert refused.status_code == 422
    assert _field_error(refused.text, "legal_name") == "Legal name is required."
    country = _field_error(refused.text, "country")
    assert country is not None and "ISO 3166-1" in country
    assert _field_error(refused.text, "tax_id") is not None
    assert _field_error(refused.text, "city") is not None
    assert _value(refused.text, "country") == "XX"  # what was typed is kept
    page = (await owner.client.get("/settings")).text
    assert (_value(page, "legal_name"), _value(page, "country")) == ("Acme Credits GmbH", "DE")


async def test_the_form_wants_its_csrf_token_and_an_owner(app: ASGIApp, sign_up: SignUp) -> None:
    owner = await sign_up()
    forged = await owner.client.post("/settings/billing-profile", data=PROFILE)
    assert forged.status_code == 403
    wrong = await owner.client.post(
        "/settings/billing-profile", data={**PROFILE, "csrf_token": "not-the-token"}
    )
    assert wrong.status_code == 403
    developer = await join_as(app, owner, "developer")
    refused = await developer.post("/settings/billing-profile", PROFILE, page="/settings")
    assert refused.status_code == 403
    page = (await owner.client.get("/settings")).text
    assert _value(page, "legal_name") == ""
    shown = (await developer.client.get("/settings")).text
    assert 'id="billing-profile"' in shown and "Save billing profile" not in shown


async def test_another_merchants_receipt_and_its_pdf_are_not_found(
    sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    owner = await sign_up()
    order_id = await _pay_custom(owner, client, "10")
    other = await sign_up()
    for path in (f"/wallet/orders/{order_id}/receipt", f"/wallet/orders/{order_id}/receipt.pdf"):
        assert (await owner.client.get(path)).status_code == 200, path
        assert (await other.client.get(path)).status_code == 404, path
