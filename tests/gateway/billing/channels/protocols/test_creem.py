"""Creem's protocol (``billing.channels.protocols.creem``): the webhook signature over the raw
body, an event's freshness, how an order maps to a product, and the API spoken to the stand-in (a
transaction refunded in full, once)."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from gateway.billing.channels.protocols import creem
from gateway.billing.channels.protocols.exchange import (
    CREDENTIALS_REFUSED,
    NOT_THE_PROVIDER,
    REQUEST_REFUSED,
    ChannelError,
)
from gateway.billing.channels.protocols.money import Money
from tests.fixtures.core import local_client
from tests.fixtures.creem import API_KEY, WEBHOOK_SECRET, CreemStandIn


def _body(created: datetime, **more: object) -> bytes:
    event = {
        "id": "evt_1",
        "eventType": "checkout.completed",
        "created_at": int(created.timestamp() * 1000),
        "object": {"id": "ch_1", "object": "checkout", "status": "completed"},
        **more,
    }
    return json.dumps(event).encode()


def test_the_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    body = _body(datetime.now(UTC))
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert creem.sign(WEBHOOK_SECRET, body) == expected
    assert creem.signature_valid(WEBHOOK_SECRET, body, expected.upper())
    assert not creem.signature_valid(WEBHOOK_SECRET, body + b" ", expected)
    assert not creem.signature_valid("another-store", body, expected)
    assert not creem.signature_valid(WEBHOOK_SECRET, body, None)


def test_a_verified_event() -> None:
    now = datetime.now(UTC)
    body = _body(now)
    read = creem.read_event(body, creem.sign(WEBHOOK_SECRET, body), WEBHOOK_SECRET, now)
    assert (read.id, read.type, read.object["id"]) == ("evt_1", "checkout.completed", "ch_1")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "signature"),
        ("other_store", "signature"),
        ("body_changed", "signature"),
        ("stale", "stale"),
        ("from_the_future", "stale"),
        ("not_an_event", "malformed"),
        ("too_large", "too_large"),
    ],
)
def test_refused_events(case: str, reason: str) -> None:
    now = datetime.now(UTC)
    body = _body(now)
    secret = WEBHOOK_SECRET
    if case == "stale":
        body = _body(now - creem.STALE_AFTER - timedelta(seconds=1))
    elif case == "from_the_future":
        body = _body(now + timedelta(minutes=10))
    elif case == "not_an_event":
        body = b'["an array"]'
    elif case == "too_large":
        body = b" " * (creem.MAX_EVENT_BYTES + 1)
    elif case == "other_store":
        secret = "another-store"
    signature = creem.sign(secret, body)
    if case == "forged":
        signature = "0" * 64
    elif case == "body_changed":
        body = body.replace(b"ch_1", b"ch_2")
    with pytest.raises(creem.Refused) as refused:
        creem.read_event(body, signature, WEBHOOK_SECRET, now)
    assert refused.value.reason == reason


def test_an_order_maps_to_products_to_try() -> None:
    catalogue = creem.Catalogue(
        packs={"pack_pro": "prod_pro"}, amount_product="prod_unit", unit_cents=100
    )
    assert catalogue.candidates("pack_pro", 2000) == [("prod_pro", 1), ("prod_unit", 20)]
    assert catalogue.candidates("pack_pro", 1850) == [("prod_pro", 1)]
    assert catalogue.candidates(None, 4200) == [("prod_unit", 42)]
    assert catalogue.candidates(None, 4250) == []
    assert creem.Catalogue(packs={"pack_pro": "prod_pro"}).candidates(None, 500) == []


async def test_a_checkout_made_paid_and_looked_up(creem_stand_in: CreemStandIn) -> None:
    product = creem_stand_in.add_product(100)
    async with local_client() as http:
        api = creem.Creem(http, creem_stand_in.url, API_KEY)
        assert await api.price(product) == Money(100, "USD")
        made = await api.create_checkout(
            product_id=product,
            units=25,
            request_id="ord_c1",
            success_url="https://gateway.test/back",
            metadata={"order_id": "ord_c1"},
        )
        assert made.url == f"{creem_stand_in.url}/checkout/{made.id}"
        assert (made.state, made.request_id, made.units, made.paid) == ("open", "ord_c1", 25, None)
        creem_stand_in.pay(made.id)
        looked = await api.checkout(made.id)
        assert (looked.state, looked.product_id, looked.metadata) == (
            "paid",
            product,
            {"order_id": "ord_c1"},
        )
        assert looked.paid == Money(2500, "USD")
        assert looked.order_id is not None and looked.order_id.startswith("ord_")

        body, headers = creem_stand_in.event(made.id)
        event = creem.read_event(
            body, headers["creem-signature"], WEBHOOK_SECRET, datetime.now(UTC)
        )
        assert creem.checkout_of(event.object) == looked
        assert event.created.timestamp() <= time.time()


async def test_refusals_come_back_as_outcomes(creem_stand_in: CreemStandIn) -> None:
    async with local_client() as http:
        wrong = creem.Creem(http, creem_stand_in.url, "creem_test_wrong")
        with pytest.raises(ChannelError) as refused:
            await wrong.checkout("ch_nope")
        assert (refused.value.outcome, refused.value.transient) == (CREDENTIALS_REFUSED, False)
        api = creem.Creem(http, creem_stand_in.url, API_KEY)
        with pytest.raises(ChannelError) as refused:
            await api.checkout("ch_nope")
        assert refused.value.outcome == REQUEST_REFUSED
        with pytest.raises(ChannelError) as refused:
            await api.create_checkout(
                product_id="prod_nope",
                units=1,
                request_id="r",
                success_url="https://gateway.test/back",
                metadata={},
            )
        assert refused.value.outcome == REQUEST_REFUSED


async def test_a_transaction_refunded_in_full_once(creem_stand_in: CreemStandIn) -> None:
    product = creem_stand_in.add_product(700)
    async with local_client() as http:
        api = creem.Creem(http, creem_stand_in.url, API_KEY)
        made = await api.create_checkout(
            product_id=product,
            units=1,
            request_id="ord_c_refund",
            success_url="https://gateway.test/back",
            metadata={},
        )
        creem_stand_in.pay(made.id)
        looked = await api.checkout(made.id)
        assert looked.transaction_id is not None and looked.transaction_id.startswith("tran_")
        transaction = await api.transaction(looked.transaction_id)
        assert (transaction.status, transaction.paid) == ("paid", Money(700, "USD"))

        refund = await api.refund(looked.transaction_id)
        assert refund.status in creem.REFUND_STATES and refund.id.startswith("ref_")
        assert creem_stand_in.requests[-1] == ("refund", {"transaction_id": looked.transaction_id})
        assert (await api.transaction(looked.transaction_id)).status == "refunded"
        # Nothing is left of it: Creem refuses a second refund, as it does an unknown one.
        for transaction_id in (looked.transaction_id, "tran_nope"):
            with pytest.raises(ChannelError) as refused:
                await api.refund(transaction_id)
            assert refused.value.outcome == REQUEST_REFUSED
        wrong = creem.Creem(http, creem_stand_in.url, "creem_test_wrong")
        with pytest.raises(ChannelError) as refused:
            await wrong.refund(looked.transaction_id)
        assert refused.value.outcome == CREDENTIALS_REFUSED


def test_a_refund_answer_is_read_as_documented() -> None:
    assert creem.refund_of({"id": "ref_1", "status": "pending"}, "tran_1") == creem.Refund(
        "ref_1", "pending"
    )
    # No id of its own: the transaction refunded names it.
    assert creem.refund_of({"status": "succeeded"}, "tran_1").id == "tran_1"
    for answer in ({"id": "ref_1"}, {"id": "ref_1", "status": "done"}, ["succeeded"]):
        with pytest.raises(ChannelError) as unread:
            creem.refund_of(answer, "tran_1")
        assert unread.value.outcome == NOT_THE_PROVIDER
