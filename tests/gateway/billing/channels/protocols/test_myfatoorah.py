"""MyFatoorah's protocol (``billing.channels.protocols.myfatoorah``): the webhook signature over its
documented fields and order, checked against the documentation's own example, and the v2 API
spoken to the stand-in."""

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from gateway.billing.channels.protocols import myfatoorah
from gateway.billing.channels.protocols.exchange import (
    CREDENTIALS_REFUSED,
    REQUEST_REFUSED,
    ChannelError,
)
from gateway.billing.channels.protocols.money import Money, rate, to_minor
from tests.fixtures.core import local_client
from tests.fixtures.myfatoorah import ACCOUNT_CURRENCY, TOKEN, WEBHOOK_SECRET, MyFatoorahStandIn

# The Data of the PAYMENT_STATUS_CHANGED sample in MyFatoorah's documentation, and the string
# its "Webhook Signature" section says is signed for it.
DOCUMENTED_DATA: dict[str, Any] = {
    "Invoice": {
        "Id": "6409988",
        "Status": "PAID",
        "Reference": "2026000073",
        "ExternalIdentifier": "asdqwd-f13sdf-fasjkz",
    },
    "Transaction": {
        "Id": "86781",
        "Status": "SUCCESS",
        "PaymentId": "07076409988323998875",
        "PaymentMethod": "VISA/MASTER",
    },
    "Amount": {"DisplayCurrency": "KWD", "ValueInDisplayCurrency": "1"},
}
DOCUMENTED_STRING = (
    "Invoice.Id=6409988,Invoice.Status=PAID,Transaction.Status=SUCCESS,"
    "Transaction.PaymentId=07076409988323998875,Invoice.ExternalIdentifier=asdqwd-f13sdf-fasjkz"
)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _event(data: dict[str, Any], *, code: int = 1, created: datetime = NOW) -> dict[str, Any]:
    return {
        "Event": {
            "Code": code,
            "Name": "PAYMENT_STATUS_CHANGED" if code == 1 else "REFUND_STATUS_CHANGED",
            "CountryIsoCode": "KWT",
            "CreationDate": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Reference": "WH-1",
        },
        "Data": data,
    }


def _read(body: dict[str, Any], signature: str | None) -> myfatoorah.Notification:
    raw = json.dumps(body).encode()
    return myfatoorah.read_notification(raw, signature, WEBHOOK_SECRET, NOW)


def test_the_signed_string_is_the_documented_one() -> None:
    assert myfatoorah.canonical(DOCUMENTED_DATA) == DOCUMENTED_STRING
    # The order is MyFatoorah's, whatever the payload's; a null or absent value is empty.
    shuffled = {k: DOCUMENTED_DATA[k] for k in ("Amount", "Transaction", "Invoice")}
    assert myfatoorah.canonical(shuffled) == DOCUMENTED_STRING
    nulled = {**DOCUMENTED_DATA, "Invoice": {**DOCUMENTED_DATA["Invoice"]}}
    nulled["Invoice"]["ExternalIdentifier"] = None
    assert myfatoorah.canonical(nulled).endswith(",Invoice.ExternalIdentifier=")
    del nulled["Invoice"]["ExternalIdentifier"]
    assert myfatoorah.canonical(nulled).endswith(",Invoice.ExternalIdentifier=")


def test_the_signature_is_base64_hmac_sha256_of_that_string() -> None:
    mac = HMAC(WEBHOOK_SECRET.encode(), hashes.SHA256())
    mac.update(DOCUMENTED_STRING.encode())
    expected = base64.b64encode(mac.finalize()).decode()
    assert myfatoorah.sign(WEBHOOK_SECRET, DOCUMENTED_DATA) == expected
    assert myfatoorah.signature_valid(WEBHOOK_SECRET, DOCUMENTED_DATA, expected)
    assert not myfatoorah.signature_valid(WEBHOOK_SECRET, DOCUMENTED_DATA, expected.lower())
    assert not myfatoorah.signature_valid("another-account", DOCUMENTED_DATA, expected)
    assert not myfatoorah.signature_valid(WEBHOOK_SECRET, DOCUMENTED_DATA, None)


def test_a_verified_notification_says_what_was_signed() -> None:
    signature = myfatoorah.sign(WEBHOOK_SECRET, DOCUMENTED_DATA)
    read = _read(_event(DOCUMENTED_DATA), signature)
    assert (read.invoice_id, read.payment_id, read.reference) == (
        "6409988",
        "07076409988323998875",
        "asdqwd-f13sdf-fasjkz",
    )
    assert read.state == "paid"
    assert read.asked == Money(1000, "KWD")
    # The same report again, resent with a new date and reference, is the same key.
    again = _read(_event(DOCUMENTED_DATA, created=NOW - timedelta(minutes=3)), signature)
    assert again.key == read.key


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("forged", "signature"),
        ("other_account", "signature"),
        ("signed_field_changed", "signature"),
        ("no_signature", "signature"),
        ("stale", "stale"),
        ("from_the_future", "stale"),
        ("refund_event", "unsupported"),
        ("not_json", "malformed"),
        ("nested_past_the_parser", "malformed"),
        ("too_large", "too_large"),
    ],
)
def test_refused_notifications(change: str, reason: str) -> None:
    data = json.loads(json.dumps(DOCUMENTED_DATA))
    signature: str | None = myfatoorah.sign(WEBHOOK_SECRET, data)
    body: Any = _event(data)
    if change == "forged":
        signature = base64.b64encode(b"\0" * 32).decode()
    elif change == "other_account":
        signature = myfatoorah.sign("someone-elses-secret", data)
    elif change == "signed_field_changed":
        data["Invoice"]["Id"] = "6409989"
    elif change == "no_signature":
        signature = None
    elif change == "stale":
        body = _event(data, created=NOW - myfatoorah.STALE_AFTER - timedelta(seconds=1))
    elif change == "from_the_future":
        body = _event(data, created=NOW + timedelta(minutes=10))
    elif change == "refund_event":
        refund = {"Refund": {"Id": "1", "Status": "REFUNDED"}, "ReferencedInvoice": {"Id": "9"}}
        body = _event(refund, code=2)
        signature = myfatoorah.sign(WEBHOOK_SECRET, refund, 2)
    raw = json.dumps(body).encode()
    if change == "not_json":
        raw = b"{not json"
    elif change == "nested_past_the_parser":
        raw = b"[" * 30_000 + b"]" * 30_000
    elif change == "too_large":
        raw = b" " * (myfatoorah.MAX_NOTIFICATION_BYTES + 1)
    with pytest.raises(myfatoorah.Refused) as refused:
        myfatoorah.read_notification(raw, signature, WEBHOOK_SECRET, NOW)
    assert refused.value.reason == reason


def test_an_unsigned_amount_changed_is_read_not_trusted() -> None:
    """Only the signed fields are MyFatoorah's word: a changed amount still verifies, and is
    reported as it was sent, for the order's check to refuse, as the same report as the genuine
    one (its key is what is signed; ``notices`` keeps its place for the genuine copy)."""
    data = json.loads(json.dumps(DOCUMENTED_DATA))
    signature = myfatoorah.sign(WEBHOOK_SECRET, data)
    genuine = _read(_event(data), signature)
    data["Amount"]["ValueInDisplayCurrency"] = "0.5"
    changed = _read(_event(data), signature)
    assert changed.asked == Money(500, "KWD")
    assert changed.key == genuine.key


def test_amounts_in_minor_units() -> None:
    assert to_minor(Decimal("1.535"), "KWD") == 1535
    assert to_minor(Decimal("5"), "USD") == 500
    assert to_minor("5.001", "USD") is None
    assert to_minor("5.005", "USD", exact=False) == 501
    assert to_minor(5.0, "USD") is None  # a float is never an amount here
    assert to_minor(True, "USD") is None
    assert rate(Money(1535, "KWD"), Money(500, "USD")) == Decimal("0.307")


async def test_an_invoice_made_and_asked_about(myfatoorah_stand_in: MyFatoorahStandIn) -> None:
    async with local_client() as http:
        api = myfatoorah.MyFatoorah(http, myfatoorah_stand_in.url, TOKEN)
        made = await api.send_payment(
            myfatoorah.payment_request(
                order_id="ord_test1",
                amount=Money(500, "USD"),
                customer_name="Merchant",
                callback_url="https://gateway.test/back",
                error_url="https://gateway.test/back",
                expires_at=NOW,
            )
        )
        assert made.url == f"{myfatoorah_stand_in.url}/pay/{made.invoice_id}"
        sent = myfatoorah_stand_in.requests[-1][1]
        assert sent["InvoiceValue"] == 5.0
        assert sent["DisplayCurrencyIso"] == "USD"
        assert sent["CustomerReference"] == sent["ExternalIdentifier"] == "ord_test1"

        looked = await api.payment_status(made.invoice_id, ACCOUNT_CURRENCY)
        assert (looked.state, looked.payment_id, looked.reference) == ("open", None, "ord_test1")

        myfatoorah_stand_in.fail_attempt(made.invoice_id)
        assert (await api.payment_status(made.invoice_id, ACCOUNT_CURRENCY)).state == "open"

        payment_id = myfatoorah_stand_in.pay(made.invoice_id)
        looked = await api.payment_status(payment_id, ACCOUNT_CURRENCY, "PaymentId")
        assert (looked.state, looked.invoice_id, looked.payment_id) == (
            "paid",
            made.invoice_id,
            payment_id,
        )
        assert looked.asked == Money(500, "USD")
        assert looked.paid == Money(1535, "KWD")


async def test_refusals_come_back_as_outcomes(myfatoorah_stand_in: MyFatoorahStandIn) -> None:
    async with local_client() as http:
        wrong = myfatoorah.MyFatoorah(http, myfatoorah_stand_in.url, "not-the-token")
        with pytest.raises(ChannelError) as refused:
            await wrong.payment_status("1", ACCOUNT_CURRENCY)
        assert (refused.value.outcome, refused.value.transient) == (CREDENTIALS_REFUSED, False)

        api = myfatoorah.MyFatoorah(http, myfatoorah_stand_in.url, TOKEN)
        with pytest.raises(ChannelError) as refused:
            await api.payment_status("999", ACCOUNT_CURRENCY)
        assert refused.value.outcome == REQUEST_REFUSED
        with pytest.raises(ChannelError) as refused:
            await api.send_payment({"CustomerName": "x", "NotificationOption": "LNK"})
        assert refused.value.outcome == REQUEST_REFUSED
