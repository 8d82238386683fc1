"""The Creem provider (``billing.channels.providers.creem``) against the stand-in: an order charged
through the product that charges its amount exactly, events verified and read, an order looked
up, a paid one refunded in full (its transaction found through its checkout when the order
kept none), and what it refuses to refund."""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from gateway.billing.channels import registry as providers
from gateway.billing.channels.registry import (
    Context,
    CreemCredentials,
    Inbound,
    NoticeRefused,
    OrderRef,
    PaymentRequest,
    ProviderError,
    SubscriptionRequest,
)
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from tests.fixtures import channels
from tests.fixtures.core import local_client
from tests.fixtures.creem import API_KEY, WEBHOOK_SECRET, CreemStandIn

PROVIDER = providers.get("creem")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with local_client() as client:
        yield client


def _ctx(
    http: httpx.AsyncClient, stand_in: CreemStandIn, **more: object
) -> Context[CreemCredentials]:
    credentials = CreemCredentials.model_validate(
        {
            "api_key": SecretStr(API_KEY),
            "webhook_secret": SecretStr(WEBHOOK_SECRET),
            "api_base": stand_in.url,
            **more,
        }
    )
    return channels.context(credentials, http)


def _request(order_id: str, amount: int, pack_id: str | None = "pack_pro") -> PaymentRequest:
    return channels.payment_request(
        order_id,
        "creem",
        amount,
        pack_id=pack_id,
        name="Pro pack",
        credits=25000,
        merchant_id="mer_c",
    )


async def test_each_amount_through_the_product_that_charges_it(
    http: httpx.AsyncClient, creem_stand_in: CreemStandIn
) -> None:
    assert PROVIDER is not None
    pro = creem_stand_in.add_product(2000, name="Pro pack")
    unit = creem_stand_in.add_product(100, name="Credits")
    ctx = _ctx(http, creem_stand_in, pack_products={"pack_pro": pro}, amount_product=unit)
    opened = await PROVIDER.open(ctx, _request("ord_c_pack", 2000))
    made = creem_stand_in.checkouts[str(opened.session_id)]
    assert (made["product"], made["units"], made["request_id"]) == (pro, 1, "ord_c_pack")
    assert made["metadata"] == {"order_id": "ord_c_pack", "merchant_id": "mer_c"}
    assert made["success_url"] == _request("ord_c_pack", 2000).return_url
    # After a coupon the pack's product would charge too much: the amount product charges it.
    opened = await PROVIDER.open(ctx, _request("ord_c_coupon", 1800))
    assert creem_stand_in.checkouts[str(opened.session_id)]["units"] == 18
    opened = await PROVIDER.open(ctx, _request("ord_c_custom", 4200, None))
    assert creem_stand_in.checkouts[str(opened.session_id)]["product"] == unit
    with pytest.raises(ApiError) as refused:
        await PROVIDER.open(ctx, _request("ord_c_odd", 4250, None))
    assert refused.value.code == Code.CHANNEL_AMOUNT_NOT_OFFERED
    # A pack's product whose price is not the pack's is never used for it.
    wrong = _ctx(http, creem_stand_in, pack_products={"pack_pro": unit})
    with pytest.raises(ApiError):
        await PROVIDER.open(wrong, _request("ord_c_wrong", 2000))


async def test_a_checkout_paid_notified_and_looked_up(
    http: httpx.AsyncClient, creem_stand_in: CreemStandIn
) -> None:
    assert PROVIDER is not None
    unit = creem_stand_in.add_product(100)
    ctx = _ctx(http, creem_stand_in, amount_product=unit)
    opened = await PROVIDER.open(ctx, _request("ord_c_p1", 500, None))
    assert opened.session_id is not None and opened.charge is None
    ref = OrderRef(
        "ord_c_p1", "mer_c", "live", "checkout", opened.session_id, None, 500, "USD", ctx.now
    )
    assert (await PROVIDER.look_up(ctx, ref)).state == "open"

    creem_stand_in.pay(opened.session_id)
    body, headers = creem_stand_in.event(opened.session_id)
    inbound = Inbound("POST", body, headers, {})
    PROVIDER.verify(ctx, inbound)
    notice = PROVIDER.parse(ctx, inbound)
    assert (notice.state, notice.order_id, notice.merchant_id, notice.session_id) == (
        "paid",
        "ord_c_p1",
        "mer_c",
        opened.session_id,
    )
    assert (notice.amount_minor, notice.currency) == (500, "USD")
    looked = await PROVIDER.look_up(ctx, ref)
    assert (looked.state, looked.payment_id, looked.amount_minor) == (
        "paid",
        notice.payment_id,
        500,
    )

    body, headers = creem_stand_in.event(opened.session_id, type_="refund.created")
    assert PROVIDER.parse(ctx, Inbound("POST", body, headers, {})).state == "ignored"


async def test_events_refused(http: httpx.AsyncClient, creem_stand_in: CreemStandIn) -> None:
    assert PROVIDER is not None
    unit = creem_stand_in.add_product(100)
    ctx = _ctx(http, creem_stand_in, amount_product=unit)
    opened = await PROVIDER.open(ctx, _request("ord_c_r1", 500, None))
    assert opened.session_id is not None
    creem_stand_in.pay(opened.session_id)
    stale_ms = int((ctx.now - timedelta(hours=4)).timestamp() * 1000)
    cases = {
        "signature": creem_stand_in.event(opened.session_id, secret="another-store"),
        "stale": creem_stand_in.event(opened.session_id, created_ms=stale_ms),
    }
    for reason, (body, headers) in cases.items():
        with pytest.raises(NoticeRefused) as refused:
            PROVIDER.verify(ctx, Inbound("POST", body, headers, {}))
        assert refused.value.reason == reason
    body, headers = creem_stand_in.event(opened.session_id)
    changed = body.replace(b'"sub_total": 500', b'"sub_total": 50')
    assert changed != body
    with pytest.raises(NoticeRefused):
        PROVIDER.verify(ctx, Inbound("POST", changed, headers, {}))


async def test_a_subscription_opened_and_its_periods_reported(
    http: httpx.AsyncClient, creem_stand_in: CreemStandIn
) -> None:
    assert PROVIDER is not None and PROVIDER.subscriptions
    monthly = creem_stand_in.add_product(1900, name="Pro monthly")
    ctx = _ctx(http, creem_stand_in, plan_products={"plan_pro/month": monthly})
    request = SubscriptionRequest(
        subscription_id="sub_ours1",
        merchant_id="mer_c",
        env="live",
        plan_id="plan_pro",
        plan_name="Pro",
        interval="month",
        amount_minor=1900,
        currency="USD",
        return_url="https://gateway.test/return",
        cancel_url="https://merchant.test/cancel",
        notify_url="https://gateway.test/api/public/v1/payment/webhook/creem",
    )
    opened = await PROVIDER.open_subscription(ctx, request)
    assert opened.session_id is not None
    made = creem_stand_in.checkouts[opened.session_id]
    assert made["metadata"]["subscription_id"] == "sub_ours1"
    with pytest.raises(ApiError) as refused:  # no product priced as the yearly plan
        await PROVIDER.open_subscription(ctx, replace(request, interval="year"))
    assert refused.value.code == Code.CHANNEL_AMOUNT_NOT_OFFERED

    subscription = creem_stand_in.subscribe(opened.session_id)
    body, headers = creem_stand_in.event(opened.session_id)
    first_checkout = PROVIDER.parse(ctx, Inbound("POST", body, headers, {}))
    assert first_checkout.state == "ignored"  # the period is subscription.paid's to credit
    seen = set()
    for _ in range(2):
        body, headers = creem_stand_in.subscription_event(subscription["id"])
        notice = PROVIDER.parse(ctx, Inbound("POST", body, headers, {}))
        assert notice.subscription is not None
        assert (notice.state, notice.subscription.state, notice.subscription.subscription_id) == (
            "paid",
            "paid",
            "sub_ours1",
        )
        assert (notice.amount_minor, notice.currency, notice.merchant_id) == (1900, "USD", "mer_c")
        seen.add(notice.subscription.invoice_id)
        creem_stand_in.renew(subscription["id"])
    assert len(seen) == 2  # each period its own key

    body, headers = creem_stand_in.subscription_event(subscription["id"], "subscription.canceled")
    notice = PROVIDER.parse(ctx, Inbound("POST", body, headers, {}))
    assert notice.subscription is not None
    assert (notice.state, notice.subscription.state) == ("ignored", "canceled")


async def test_a_paid_order_refunded_in_full_through_its_transaction(
    http: httpx.AsyncClient, creem_stand_in: CreemStandIn
) -> None:
    assert PROVIDER is not None and PROVIDER.can_refund and PROVIDER.refunds_in_full
    unit = creem_stand_in.add_product(100)
    ctx = _ctx(http, creem_stand_in, amount_product=unit)
    opened = await PROVIDER.open(ctx, _request("ord_c_rf1", 500, None))
    assert opened.session_id is not None
    checkout = creem_stand_in.pay(opened.session_id)
    transaction_id = checkout["order"]["transaction"]
    body, headers = creem_stand_in.event(opened.session_id)
    assert PROVIDER.parse(ctx, Inbound("POST", body, headers, {})).payment_id == transaction_id
    # An order whose paid report named no transaction: found through its checkout.
    ref = OrderRef(
        "ord_c_rf1", "mer_c", "live", "checkout", opened.session_id, None, 500, "USD", ctx.now
    )
    with pytest.raises(ProviderError):
        await PROVIDER.refund(ctx, ref, 200)
    with pytest.raises(ProviderError):
        await PROVIDER.refund(ctx, replace(ref, refunded_minor=100), 400)
    assert creem_stand_in.refunds().count(transaction_id) == 0

    made = await PROVIDER.refund(ctx, ref, 500)
    assert made.refund_id.startswith("ref_") and made.provider_status == "succeeded"
    # Asked again (its answer lost): the refund made is answered, Creem not asked twice.
    again = await PROVIDER.refund(ctx, replace(ref, payment_id=transaction_id), 500)
    assert (again.refund_id, again.provider_status) == (transaction_id, "refunded")
    assert creem_stand_in.refunds().count(transaction_id) == 1


async def test_refunds_creem_would_not_make_are_refused(
    http: httpx.AsyncClient, creem_stand_in: CreemStandIn
) -> None:
    assert PROVIDER is not None
    unit = creem_stand_in.add_product(100)
    ctx = _ctx(http, creem_stand_in, amount_product=unit)
    opened = await PROVIDER.open(ctx, _request("ord_c_rf2", 300, None))
    assert opened.session_id is not None
    transaction_id = creem_stand_in.pay(opened.session_id)["order"]["transaction"]
    ref = OrderRef(
        "ord_c_rf2", "mer_c", "live", "checkout", None, transaction_id, 300, "USD", ctx.now
    )
    transaction = creem_stand_in.transaction(transaction_id)
    assert transaction is not None
    # Charged back: nothing to give back, and Creem is not asked.
    transaction["status"] = "chargedBack"
    with pytest.raises(ProviderError):
        await PROVIDER.refund(ctx, ref, 300)
    assert creem_stand_in.refunds().count(transaction_id) == 0
    transaction["status"] = "paid"
    with pytest.raises(ProviderError):
        await PROVIDER.refund(ctx, replace(ref, payment_id="tran_unknown"), 300)
    with pytest.raises(ProviderError):
        await PROVIDER.refund(ctx, replace(ref, payment_id=None), 300)
    creem_stand_in.refusal = (400, "Refund window has passed")
    try:
        with pytest.raises(ProviderError) as refused:
            await PROVIDER.refund(ctx, ref, 300)
    finally:
        creem_stand_in.refusal = None
    assert (refused.value.status, refused.value.timeout) == (400, False)
    # A refund Creem answers as failed is no refund.
    creem_stand_in.refund_status = "failed"
    try:
        with pytest.raises(ProviderError):
            await PROVIDER.refund(ctx, ref, 300)
    finally:
        creem_stand_in.refund_status = "succeeded"
    assert transaction["status"] == "paid"
    assert creem_stand_in.refunds().count(transaction_id) == 2
