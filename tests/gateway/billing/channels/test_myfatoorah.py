"""The MyFatoorah provider (``billing.channels.providers.myfatoorah``) against the stand-in: an
invoice opened with its charge in the account's currency, notifications verified and read, an order
looked up."""

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from gateway.billing.channels import registry as providers
from gateway.billing.channels.registry import (
    Charge,
    Context,
    Inbound,
    MyFatoorahCredentials,
    NoticeRefused,
    OrderRef,
    PaymentRequest,
    ProviderError,
)
from tests.fixtures import channels
from tests.fixtures.core import local_client
from tests.fixtures.myfatoorah import TOKEN, WEBHOOK_SECRET, MyFatoorahStandIn

PROVIDER = providers.get("myfatoorah")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with local_client() as client:
        yield client


def _ctx(
    http: httpx.AsyncClient, stand_in: MyFatoorahStandIn, *, token: str = TOKEN
) -> Context[MyFatoorahCredentials]:
    credentials = MyFatoorahCredentials(
        token=SecretStr(token), webhook_secret=SecretStr(WEBHOOK_SECRET), api_base=stand_in.url
    )
    return channels.context(credentials, http)


def _request(order_id: str, amount: int = 500) -> PaymentRequest:
    return channels.payment_request(order_id, "myfatoorah", amount)


def _inbound(body: dict[str, object], headers: dict[str, str]) -> Inbound:
    lowered = {k.lower(): v for k, v in headers.items()}
    return Inbound("POST", json.dumps(body).encode(), lowered, {})


async def test_an_invoice_opened_paid_notified_and_looked_up(
    http: httpx.AsyncClient, myfatoorah_stand_in: MyFatoorahStandIn
) -> None:
    assert PROVIDER is not None and PROVIDER.can_look_up
    ctx = _ctx(http, myfatoorah_stand_in)
    opened = await PROVIDER.open(ctx, _request("ord_mf_p1"))
    assert opened.session_id is not None
    assert opened.url == f"{myfatoorah_stand_in.url}/pay/{opened.session_id}"
    # $5.00 at 0.307 KWD a dollar: 1.535 KWD, in fils.
    assert opened.charge == Charge(1535, "KWD", "0.307")
    assert opened.expires_at is not None and opened.expires_at > ctx.now + timedelta(hours=23)
    sent = myfatoorah_stand_in.requests[-2][1]
    assert sent["CallBackUrl"] == sent["ErrorUrl"] == _request("ord_mf_p1").return_url
    assert sent["ExternalIdentifier"] == "ord_mf_p1"

    ref = OrderRef(
        "ord_mf_p1", "mer_1", "live", "checkout", opened.session_id, None, 1535, "KWD", ctx.now
    )
    looked = await PROVIDER.look_up(ctx, ref)
    assert (looked.state, looked.session_id, looked.payment_id) == (
        "open",
        opened.session_id,
        None,
    )

    myfatoorah_stand_in.fail_attempt(opened.session_id)
    inbound = _inbound(*myfatoorah_stand_in.notification(opened.session_id))
    PROVIDER.verify(ctx, inbound)
    assert PROVIDER.parse(ctx, inbound).state == "ignored"  # the invoice is still payable

    payment_id = myfatoorah_stand_in.pay(opened.session_id)
    inbound = _inbound(*myfatoorah_stand_in.notification(opened.session_id))
    PROVIDER.verify(ctx, inbound)
    notice = PROVIDER.parse(ctx, inbound)
    assert (notice.state, notice.order_id, notice.session_id, notice.payment_id) == (
        "paid",
        "ord_mf_p1",
        opened.session_id,
        payment_id,
    )
    assert (notice.amount_minor, notice.currency) == (1535, "KWD")
    # The same report resent is the same event.
    again = _inbound(*myfatoorah_stand_in.notification(opened.session_id))
    assert PROVIDER.parse(ctx, again).event_id == notice.event_id

    looked = await PROVIDER.look_up(ctx, ref)
    assert (looked.state, looked.payment_id, looked.amount_minor, looked.currency) == (
        "paid",
        payment_id,
        1535,
        "KWD",
    )


async def test_notifications_refused(
    http: httpx.AsyncClient, myfatoorah_stand_in: MyFatoorahStandIn
) -> None:
    assert PROVIDER is not None
    ctx = _ctx(http, myfatoorah_stand_in)
    opened = await PROVIDER.open(ctx, _request("ord_mf_r1"))
    assert opened.session_id is not None
    myfatoorah_stand_in.pay(opened.session_id)
    cases = {
        "signature": myfatoorah_stand_in.notification(opened.session_id, secret="other-account"),
        "stale": myfatoorah_stand_in.notification(
            opened.session_id, created=ctx.now - timedelta(hours=2)
        ),
    }
    for reason, (body, headers) in cases.items():
        with pytest.raises(NoticeRefused) as refused:
            PROVIDER.verify(ctx, _inbound(body, headers))
        assert refused.value.reason == reason
    body, headers = myfatoorah_stand_in.notification(opened.session_id)
    body["Data"]["Invoice"]["Id"] = "1"  # a signed field changed
    with pytest.raises(NoticeRefused):
        PROVIDER.verify(ctx, _inbound(body, headers))
    # An unsigned amount changed verifies, and is read as sent for the order's check.
    body, headers = myfatoorah_stand_in.notification(opened.session_id)
    body["Data"]["Amount"]["ValueInBaseCurrency"] = "0.100"
    PROVIDER.verify(ctx, _inbound(body, headers))
    assert PROVIDER.parse(ctx, _inbound(body, headers)).amount_minor == 100


async def test_a_refusal_opens_nothing(
    http: httpx.AsyncClient, myfatoorah_stand_in: MyFatoorahStandIn
) -> None:
    assert PROVIDER is not None
    with pytest.raises(ProviderError) as failed:
        await PROVIDER.open(_ctx(http, myfatoorah_stand_in, token="wrong"), _request("ord_x"))
    assert not failed.value.timeout
    assert "credentials_refused" in failed.value.reason


async def test_a_canceled_invoice_expires_only_the_order_it_signs(
    http: httpx.AsyncClient, myfatoorah_stand_in: MyFatoorahStandIn
) -> None:
    assert PROVIDER is not None
    ctx = _ctx(http, myfatoorah_stand_in)
    opened = await PROVIDER.open(ctx, _request("ord_mf_c1"))
    assert opened.session_id is not None
    myfatoorah_stand_in.cancel(opened.session_id)
    notice = PROVIDER.parse(ctx, _inbound(*myfatoorah_stand_in.notification(opened.session_id)))
    assert (notice.state, notice.order_id) == ("expired", "ord_mf_c1")
    # Without the signed order id, an unsigned one never expires an order.
    myfatoorah_stand_in.invoices[opened.session_id]["_external"] = None
    notice = PROVIDER.parse(ctx, _inbound(*myfatoorah_stand_in.notification(opened.session_id)))
    assert (notice.state, notice.order_id) == ("ignored", None)
