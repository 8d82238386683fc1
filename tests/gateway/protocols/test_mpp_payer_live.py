"""MPP's paying half in live, through the Stripe stand-in driven by the real ``stripe`` package: a
Shared Payment Token issued from the merchant's saved card (its own instrument, its choice) for
the challenge's network profile, amount and expiry (once per payment id), captured by this
gateway's own PaymentIntent when the seller's send is retried with it, and then known used; a
token revoked or expired is gone and captures nothing; a token a seller sends twice is paid
once. On both stores."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from mpp import Challenge
from pydantic import SecretStr

from gateway.protocols import registry
from gateway.protocols.base import OWN, Demand, Wallet
from gateway.protocols.mpp.payer import MppPayer
from gateway.store.engine import Database
from gateway.values.clock import rfc3339, utcnow
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.payers import paid_orders, refused, send_body, wallet_of
from tests.fixtures.stripe import SECRET_KEY, StripeStandIn

PAYER = MppPayer()
SETUP = "/wallet/auto-top-up"


@pytest.fixture
async def api(stood_in_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(base_url=f"{stood_in_url}/api/public/v1", timeout=30) as http:
        yield http


async def _card(api: httpx.AsyncClient, stand_in: StripeStandIn, merchant: MerchantKey) -> str:
    """The merchant's card saved by Checkout in setup mode, as auto top-up saves it."""
    opened = await api.post(f"{SETUP}/setup", headers=merchant.headers)
    assert opened.status_code == 200, opened.text
    method = stand_in.complete_setup(opened.json()["data"]["url"].rsplit("/", 1)[1])
    read = await api.get(SETUP, headers=merchant.headers)  # the setup's card saved
    assert read.json()["data"]["payment_method"]["provider"] == "stripe", read.text
    return method


async def _demand(api: httpx.AsyncClient, settings: Settings, seller: MerchantKey) -> Demand:
    offer = await refused(api, "", seller, send_body(1200))
    return registry.demand_of(settings, offer.headers["www-authenticate"], utcnow(), env="live")


async def _payer(
    api: httpx.AsyncClient,
    stand_in: StripeStandIn,
    db: Database,
    settings: Settings,
    m: MakeMerchant,
) -> tuple[Wallet, str]:
    merchant = await m("live")
    return wallet_of(db, settings, merchant, OWN), await _card(api, stand_in, merchant)


def _pay_id() -> str:
    return "pay_" + uuid.uuid4().hex


async def test_a_live_sellers_402_is_paid_with_a_token_issued_from_the_saved_card(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    settings = stripe_stood_in_settings
    seller = await make_merchant("live", balance_cents=0)
    wallet, card = await _payer(api, stripe_stand_in, db, settings, make_merchant)
    found = await _demand(api, settings, seller)
    assert (found.payee, found.header, found.amount_cents) == (
        "gateway.test",
        "Payment-Authorization",
        1200,
    )
    pay_id = _pay_id()
    made = await PAYER.make(wallet, found, payment_id=pay_id)
    issued = dict(stripe_stand_in.issued.tokens[made.reference])
    assert issued["payment_method"] == card
    assert issued["seller_details"]["network_business_profile"] == settings.mpp_network_id
    assert issued["usage_limits"] == {
        "currency": "usd",
        "max_amount": 1200,
        "expires_at": int(found.expires_at.timestamp()),
    }
    tokens = len(stripe_stand_in.issued.tokens)
    # Made again, as retries racing each other would: the same token (Stripe's idempotency).
    racing = await asyncio.gather(*(PAYER.make(wallet, found, payment_id=pay_id) for _ in "abcd"))
    assert racing == [made] * 4
    assert len(stripe_stand_in.issued.tokens) == tokens
    assert await PAYER.used(wallet, found, made, now=utcnow()) == ("unused", 0)
    paid = {**seller.headers, found.header: made.value}
    body = send_body(1200)
    reply = await api.post("/topup/send", json=body, headers=paid)
    assert reply.status_code == 200, reply.text
    [intent] = [
        i
        for i in stripe_stand_in.intents.values()
        if i.get("shared_payment_granted_token") == made.reference
    ]
    assert (intent["amount"], intent["status"]) == (1200, "succeeded")
    assert await PAYER.used(wallet, found, made, now=utcnow()) == ("used", 1200)
    again = await api.post("/topup/send", json=body, headers=paid)
    assert again.json()["code"] == int(Code.PAYMENT_CHALLENGE_INVALID)
    assert await paid_orders(db, seller.merchant_id, "mpp") == (1, 1200, 1)


async def test_a_token_a_seller_captures_twice_is_paid_once(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    """A seller that confirms a second PaymentIntent with the token (another idempotency key)
    is refused: the token's limit is the challenge's amount."""
    settings = stripe_stood_in_settings
    seller = await make_merchant("live", balance_cents=0)
    wallet, _ = await _payer(api, stripe_stand_in, db, settings, make_merchant)
    found = await _demand(api, settings, seller)
    made = await PAYER.make(wallet, found, payment_id=_pay_id())
    async with local_client(base_url=stripe_stand_in.url) as stripe:
        answers = [
            await stripe.post(
                "/v1/payment_intents",
                data={
                    "amount": "700",
                    "currency": "usd",
                    "shared_payment_granted_token": made.reference,
                    "confirm": "true",
                    "automatic_payment_methods[enabled]": "true",
                    "automatic_payment_methods[allow_redirects]": "never",
                },
                headers={"Authorization": f"Bearer {SECRET_KEY}", "Idempotency-Key": key},
            )
            for key in (_pay_id(), _pay_id())
        ]
    assert [a.status_code for a in answers] == [200, 402]
    assert answers[1].json()["error"]["code"] == "amount_too_large"
    assert await PAYER.used(wallet, found, made, now=utcnow()) == ("used", 700)


async def test_a_revoked_or_expired_token_is_gone_and_pays_nothing(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    settings = stripe_stood_in_settings
    seller = await make_merchant("live", balance_cents=0)
    wallet, _ = await _payer(api, stripe_stand_in, db, settings, make_merchant)
    found = await _demand(api, settings, seller)
    revoked = await PAYER.make(wallet, found, payment_id=_pay_id())
    await PAYER.revoke(wallet, found, revoked)
    assert stripe_stand_in.issued.tokens[revoked.reference]["deactivated_reason"] == "revoked"
    assert await PAYER.used(wallet, found, revoked, now=utcnow()) == ("gone", 0)
    paid = {**seller.headers, found.header: revoked.value}
    reply = await api.post("/topup/send", json=send_body(1200), headers=paid)
    assert reply.json()["code"] == int(Code.PAYMENT_VERIFICATION_FAILED), reply.text
    other = await _demand(api, settings, seller)
    expired = await PAYER.make(wallet, other, payment_id=_pay_id())
    stripe_stand_in.issued.expire(expired.reference)  # Stripe's clock past its expires_at
    assert await PAYER.used(wallet, other, expired, now=utcnow()) == ("gone", 0)
    assert await paid_orders(db, seller.merchant_id, "mpp") == (0, 0, 0)


async def test_a_card_that_asks_its_holder_to_act_pays_no_agent(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    settings = stripe_stood_in_settings
    seller = await make_merchant("live", balance_cents=0)
    wallet, card = await _payer(api, stripe_stand_in, db, settings, make_merchant)
    stripe_stand_in.issued.asking.add(card)
    found = await _demand(api, settings, seller)
    with pytest.raises(ApiError) as refusal:
        await PAYER.make(wallet, found, payment_id=_pay_id())
    assert refusal.value.code == Code.PAYMENT_PROVIDER_ERROR
    [token] = [t for t in stripe_stand_in.issued.tokens.values() if t["payment_method"] == card]
    assert token["deactivated_reason"] == "revoked"


async def test_a_live_wallet_without_a_saved_card_is_refused_before_stripe_is_asked(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    seller = await make_merchant("live", balance_cents=0)
    found = await _demand(api, stripe_stood_in_settings, seller)
    wallet = wallet_of(db, stripe_stood_in_settings, await make_merchant("live"), OWN)
    asked = len(stripe_stand_in.requests)
    with pytest.raises(ApiError) as refusal:
        await PAYER.make(wallet, found, payment_id=_pay_id())
    assert refusal.value.code == Code.AUTO_TOP_UP_NO_PAYMENT_METHOD
    assert len(stripe_stand_in.requests) == asked


async def test_staging_pays_another_seller_through_stripes_test_mode(
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    """With a test key, staging issues from Stripe's test card (none saved) for a seller that is
    not this gateway."""
    key = SecretStr(SECRET_KEY)
    settings = stripe_stood_in_settings.model_copy(update={"stripe_staging_secret_key": key})
    now = utcnow()
    challenge = Challenge.create(
        secret_key="the-sellers-own-secret",
        realm="seller.example",
        method="stripe",
        intent="charge",
        request={"amount": "250", "currency": "usd", "methodDetails": {"networkId": "prof_s"}},
        expires=rfc3339(now + timedelta(minutes=5)),
    )
    text = challenge.to_www_authenticate("seller.example")
    found = registry.demand_of(settings, text, now, env="staging")
    wallet = wallet_of(db, settings, await make_merchant("staging"))
    made = await PAYER.make(wallet, found, payment_id=_pay_id())
    token = stripe_stand_in.issued.tokens[made.reference]
    assert (token["payment_method"], token["usage_limits"]["max_amount"]) == ("pm_card_visa", 250)
    assert token["seller_details"]["network_business_profile"] == "prof_s"
    assert await PAYER.used(wallet, found, made, now=now) == ("unused", 0)
