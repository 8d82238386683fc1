"""Stripe's signature scheme, checked with the stripe package, and the session request."""

import time
from datetime import UTC, datetime

import pytest
import respx

from gateway.billing.channels.providers import stripe_orders
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.billing import STRIPE_API, stripe_headers

BODY = '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {}}}'


def _sig(timestamp: int | None = None) -> str:
    return stripe_headers(BODY, timestamp=timestamp)["Stripe-Signature"]


def test_verify_accepts_within_five_minutes_either_way(billing_settings: Settings) -> None:
    now = int(time.time())
    for stamp in (now, now - 290, now + 290):
        stripe_orders.verify_event(billing_settings, BODY.encode(), _sig(timestamp=stamp))


@pytest.mark.parametrize("offset", [-310, 310, -86_400])
def test_verify_refuses_outside_the_window(billing_settings: Settings, offset: int) -> None:
    header = _sig(timestamp=int(time.time()) + offset)
    with pytest.raises(ApiError) as refused:
        stripe_orders.verify_event(billing_settings, BODY.encode(), header)
    assert refused.value.code == 4120


def test_verify_refuses_bytes_that_are_not_utf8(billing_settings: Settings) -> None:
    with pytest.raises(ApiError) as refused:
        stripe_orders.verify_event(billing_settings, b"\xff\xfe", _sig())
    assert refused.value.code == 4120


def test_verify_needs_the_secret(settings: Settings) -> None:
    with pytest.raises(ApiError) as refused:
        stripe_orders.verify_event(settings, BODY.encode(), _sig())
    assert refused.value.code == 4121


async def test_session_request_is_a_form_body_not_a_deprecated_data_string(
    billing_settings: Settings,
) -> None:
    req = stripe_orders.SessionRequest(
        order_id="ord_1",
        merchant_id="mer_1",
        pack_id="pack_pro",
        pack_name="Pro",
        credits=25_000,
        amount_cents=2000,
        currency="USD",
        success_url="https://a.example/ok",
        cancel_url="https://a.example/no",
    )
    reply = {
        "id": "cs_1",
        "object": "checkout.session",
        "url": "https://pay/cs_1",
        "expires_at": 1_800_000_000,
    }
    with respx.mock(assert_all_called=True) as stripe_api:
        route = stripe_api.post(f"{STRIPE_API}/v1/checkout/sessions").respond(200, json=reply)
        session = await stripe_orders.create_session(billing_settings, req)
    expiry = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    assert session == stripe_orders.Session("cs_1", "https://pay/cs_1", expiry)
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"client_reference_id=ord_1" in sent.content


async def test_a_session_without_a_url_is_a_provider_error(billing_settings: Settings) -> None:
    req = stripe_orders.SessionRequest(
        "ord_2", "mer_1", "p", "P", 10, 500, "USD", "https://a", "https://b"
    )
    with respx.mock() as stripe_api:
        stripe_api.post(f"{STRIPE_API}/v1/checkout/sessions").respond(
            200, json={"id": "cs_2", "object": "checkout.session", "url": None}
        )
        with pytest.raises(ApiError) as refused:
            await stripe_orders.create_session(billing_settings, req)
    assert refused.value.code == 4107
