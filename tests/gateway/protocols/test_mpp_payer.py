"""MPP's paying half: a seller's ``WWW-Authenticate: Payment`` challenge read (the Stripe method's
charge intent in US dollars, or a clear refusal), and in staging this gateway's own challenge
paid with a sandbox token made once per payment: a seller's send refused for funds, paid from
another merchant's wallet, is delivered on its retry and credited once, and the wallet learns
it was used; the same credential again pays nothing more. On both stores."""

import base64
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from mpp import Challenge, Credential
from pydantic import SecretStr

from gateway.protocols import registry
from gateway.protocols.base import CHALLENGE_MAX_BYTES, Demand
from gateway.protocols.mpp import challenges
from gateway.protocols.mpp.payer import MppPayer
from gateway.store.engine import Database
from gateway.values.clock import rfc3339, utcnow
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.payers import paid_orders, refused, send_body, wallet_of

PAYER = MppPayer()
NOW = datetime(2026, 11, 26, 5, 0, 0).astimezone()
SELLER = "seller.example"


def _request(**changed: Any) -> dict[str, Any]:
    return {
        "amount": "1200",
        "currency": "usd",
        "description": "An answer",
        "methodDetails": {"networkId": "profile_seller", "paymentMethodTypes": ["card"]},
        **changed,
    }


def _foreign(
    request: dict[str, Any] | None = None,
    *,
    method: str = "stripe",
    intent: str = "charge",
    expires: str | None = rfc3339(NOW + timedelta(minutes=5)),
    header: str | None = None,
) -> str:
    """Another seller's challenge, as its server writes it."""
    made = Challenge.create(
        secret_key="the-sellers-own-secret",
        realm=SELLER,
        method=method,
        intent=intent,
        request=_request() if request is None else request,
        expires=expires,
        header=header,
    )
    return made.to_www_authenticate(SELLER)


def _own(settings: Settings, env: str = "staging", amount: int = 1200) -> str:
    made = challenges.challenge(
        settings, merchant_id="m_seller", env=env, amount_cents=amount, now=NOW
    )
    return made.to_www_authenticate(made.realm)


def _refused_with(settings: Settings, text: str, env: str = "live") -> ApiError:
    with pytest.raises(ApiError) as refusal:
        PAYER.demand(settings, text, NOW, env=env)
    return refusal.value


def _tested(settings: Settings) -> Settings:
    return settings.model_copy(update={"stripe_staging_secret_key": None})


def test_this_gateways_own_staging_challenge_is_read_for_a_staging_wallet(
    settings: Settings,
) -> None:
    found = PAYER.demand(settings, _own(settings), NOW, env="staging")
    assert found is not None
    realm = challenges.realm(settings)
    assert (found.protocol, found.amount_cents, found.currency) == ("mpp", 1200, "usd")
    assert found.payee == realm  # shown; the money goes to the profile the challenge names
    assert PAYER.destination(found) == f"mpp:{found.payee_names[0]}"
    assert found.header == "Payment-Authorization"  # as this gateway advertises it
    assert found.expires_at == NOW + timedelta(seconds=settings.mpp_challenge_ttl_seconds)


def test_another_sellers_challenge_is_read_for_a_live_wallet(settings: Settings) -> None:
    found = PAYER.demand(settings, _foreign(), NOW, env="live")
    assert found is not None
    assert (found.amount_cents, found.payee) == (1200, SELLER)
    assert found.payee_names == ("profile_seller",)
    assert PAYER.destination(found) == "mpp:profile_seller"  # never the realm it states
    assert found.header == "Authorization"  # none advertised: the scheme's default
    advertised = PAYER.demand(settings, _foreign(header="X-Pay"), NOW, env="live")
    assert advertised is not None and advertised.header == "X-Pay"
    forever = PAYER.demand(settings, _foreign(expires=None), NOW, env="live")
    assert forever is not None  # no expiry: as long as this gateway's own last
    assert forever.expires_at == NOW + timedelta(seconds=settings.mpp_challenge_ttl_seconds)


def test_what_is_not_a_payment_challenge_is_not_mpps(settings: Settings) -> None:
    assert PAYER.demand(settings, 'Bearer realm="api"', NOW, env="live") is None
    assert PAYER.demand(settings, "eyJ4NDAyVmVyc2lvbiI6Mn0=", NOW, env="live") is None


def _encoded(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _deep() -> str:
    nested: Any = 1
    for _ in range(40):
        nested = [nested]
    return _encoded({"amount": "1", "x": nested})


@pytest.mark.parametrize(
    "text",
    [
        "Payment nonsense",
        'Payment id="a", realm="s", method="stripe", intent="charge"',  # no request
        'Payment id="a", realm="s", method="stripe", intent="charge", request="!!"',
        f'Payment id="a", realm="s", method="stripe", intent="charge", request="{_encoded([1])}"',
        # nested past the bound, as the decoder would be asked to read it
        f'Payment id="a", realm="s", method="stripe", intent="charge", request="{_deep()}"',
    ],
)
def test_a_challenge_that_cannot_be_read_is_malformed(settings: Settings, text: str) -> None:
    assert _refused_with(settings, text).code == Code.PAYMENT_CREDENTIAL_MALFORMED


@pytest.mark.parametrize(
    "request_",
    [
        _request(amount="12.50"),
        _request(amount="0"),
        _request(amount="100000000"),  # past what Stripe charges
        _request(amount=1200),  # a number, not the integer string the method says
        _request(methodDetails={}),  # no network profile to issue the token for
    ],
)
def test_a_challenge_without_a_payable_amount_or_profile_is_malformed(
    settings: Settings, request_: dict[str, Any]
) -> None:
    assert _refused_with(settings, _foreign(request_)).code == Code.PAYMENT_CREDENTIAL_MALFORMED


def test_an_expiry_that_is_not_a_time_is_malformed(settings: Settings) -> None:
    refusal = _refused_with(settings, _foreign(expires="tomorrow"))
    assert refusal.code == Code.PAYMENT_CREDENTIAL_MALFORMED


def test_an_expired_challenge_is_refused_as_expired(settings: Settings) -> None:
    refusal = _refused_with(settings, _foreign(expires=rfc3339(NOW - timedelta(seconds=1))))
    assert refusal.code == Code.PAYMENT_CHALLENGE_EXPIRED


@pytest.mark.parametrize(
    "text",
    [
        _foreign(method="tempo"),
        _foreign(intent="session"),
        _foreign(_request(currency="eur")),
    ],
)
def test_another_method_intent_or_currency_is_not_paid(settings: Settings, text: str) -> None:
    refusal = _refused_with(settings, text)
    assert refusal.code == Code.PAYMENT_METHOD_UNSUPPORTED
    assert "nothing was paid" in refusal.message


def test_a_challenge_past_the_bound_is_refused_before_it_is_parsed(settings: Settings) -> None:
    long = _foreign(_request(description="x" * CHALLENGE_MAX_BYTES))
    assert _refused_with(settings, long).code == Code.PAYMENT_CREDENTIAL_MALFORMED
    with pytest.raises(ApiError) as refusal:
        registry.demand_of(settings, long, NOW, env="live")
    assert refusal.value.code == Code.PAYMENT_CREDENTIAL_MALFORMED


def test_environments_are_not_crossed(settings: Settings) -> None:
    """A live wallet never pays this gateway's staging challenge, nor a staging one its live
    one; staging pays another seller only through Stripe's test mode, when configured."""
    plain = _tested(settings)
    assert _refused_with(plain, _own(plain), "live").code == Code.PAYMENT_METHOD_UNSUPPORTED
    live = _own(plain, env="live")
    assert _refused_with(plain, live, "staging").code == Code.PAYMENT_METHOD_UNSUPPORTED
    refusal = _refused_with(plain, _foreign(), "staging")
    assert refusal.code == Code.PAYMENT_METHOD_UNSUPPORTED
    assert "AITOPUP_STRIPE_STAGING_SECRET_KEY" in refusal.message
    test_mode = plain.model_copy(update={"stripe_staging_secret_key": SecretStr("sk_test_key")})
    found = PAYER.demand(test_mode, _foreign(), NOW, env="staging")
    assert found is not None and found.payee == SELLER


def test_the_staging_test_key_must_be_a_test_modes() -> None:
    with pytest.raises(ValueError, match="test-mode key only"):
        Settings(
            _env_file=None,
            key_pepper="p" * 16,
            secret_key="s" * 16,
            stripe_staging_secret_key="sk_live_0123",
        )


async def test_making_again_for_one_payment_makes_the_same_credential(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    payer = await make_merchant("staging")
    wallet = wallet_of(db, settings, payer)
    text = _own(settings)
    found = PAYER.demand(settings, text, NOW, env="staging")
    assert found is not None
    first = await PAYER.make(wallet, found, payment_id="pay_1")
    assert await PAYER.make(wallet, found, payment_id="pay_1") == first
    # Read again at the time it was first read, as the domain restores it: the same demand.
    again = PAYER.demand(settings, text, NOW, env="staging")
    assert again == found
    assert await PAYER.make(wallet, again, payment_id="pay_1") == first
    other = await PAYER.make(wallet, found, payment_id="pay_2")
    assert other.value != first.value and other.reference != first.reference
    credential = Credential.from_authorization(first.value)
    assert credential.challenge.id == Challenge.from_www_authenticate(text).id
    assert credential.payload == {"spt": first.reference}
    assert first.reference.startswith("spt_test_")


def _served(settings: Settings, live_url: str) -> Settings:
    """The settings the served gateway runs with (its public base URL its own address): the
    realm its challenges name, which its wallets know as their own."""
    return settings.model_copy(update={"public_base_url": live_url.removesuffix("/api/public/v1")})


async def _demanded(settings: Settings, header: str) -> Demand:
    return registry.demand_of(settings, header, utcnow(), env="staging")


@pytest.mark.both_stores
async def test_a_sellers_402_is_paid_from_another_wallet_once_and_the_wallet_learns_it(
    live_url: str, db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    settings = _served(settings, live_url)
    seller = await make_merchant("staging", balance_cents=0)
    payer = await make_merchant("staging", balance_cents=0)
    wallet = wallet_of(db, settings, payer)
    body = send_body(1150)
    async with local_client(timeout=30) as http:
        offer = await refused(http, live_url, seller, body)
        found = await _demanded(settings, offer.headers["www-authenticate"])
        assert (found.protocol, found.amount_cents) == ("mpp", 1200)
        made = await PAYER.make(wallet, found, payment_id="pay_once")
        assert await PAYER.used(wallet, found, made, now=utcnow()) == ("unused", 0)
        paid = {**seller.headers, found.header: made.value}
        reply = await http.post(f"{live_url}/topup/send", json=body, headers=paid)
        assert reply.status_code == 200, reply.text
        assert reply.json()["code"] == 1001
        assert reply.json()["data"]["payment"]["amount_cents"] == 1200
        assert await PAYER.used(wallet, found, made, now=utcnow()) == ("used", 1200)
        again = await http.post(f"{live_url}/topup/send", json=body, headers=paid)
        assert again.status_code == 402 and again.json()["code"] == int(
            Code.PAYMENT_CHALLENGE_INVALID
        )
    assert await paid_orders(db, seller.merchant_id, "mpp") == (1, 1200, 1)
    assert await paid_orders(db, payer.merchant_id, "mpp") == (0, 0, 0)


@pytest.mark.both_stores
async def test_a_token_another_credential_beat_to_the_challenge_is_gone(
    live_url: str, db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    """Two wallets pay one challenge: the first presented pays, the other's token never will."""
    settings = _served(settings, live_url)
    seller = await make_merchant("staging", balance_cents=0)
    first = wallet_of(db, settings, await make_merchant("staging"))
    second = wallet_of(db, settings, await make_merchant("staging"))
    body = send_body(500)
    async with local_client(timeout=30) as http:
        offer = await refused(http, live_url, seller, body)
        found = await _demanded(settings, offer.headers["www-authenticate"])
        winner = await PAYER.make(first, found, payment_id="pay_a")
        loser = await PAYER.make(second, found, payment_id="pay_b")
        paid = {**seller.headers, found.header: winner.value}
        assert (await http.post(f"{live_url}/topup/send", json=body, headers=paid)).is_success
        late = {**seller.headers, found.header: loser.value}
        taken = await http.post(f"{live_url}/topup/send", json=body, headers=late)
        assert taken.json()["code"] == int(Code.PAYMENT_CHALLENGE_TAKEN)
    assert await PAYER.used(first, found, winner, now=utcnow()) == ("used", 500)
    assert await PAYER.used(second, found, loser, now=utcnow()) == ("gone", 0)
    assert await paid_orders(db, seller.merchant_id, "mpp") == (1, 500, 1)


async def test_an_unpresented_token_is_unused_until_its_challenge_is_past_paying(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    wallet = wallet_of(db, settings, await make_merchant("staging"))
    found = PAYER.demand(settings, _own(settings), NOW, env="staging")
    assert found is not None
    made = await PAYER.make(wallet, found, payment_id="pay_never")
    assert await PAYER.used(wallet, found, made, now=found.expires_at) == ("unused", 0)
    late = found.expires_at + timedelta(seconds=settings.payment_timeout_seconds + 61)
    assert await PAYER.used(wallet, found, made, now=late) == ("gone", 0)
    await PAYER.revoke(wallet, found, made)  # a sandbox token has no issuer: nothing to do
    live_wallet = wallet_of(db, settings, await make_merchant("live"))
    with pytest.raises(ApiError) as crossed:
        await PAYER.make(live_wallet, found, payment_id="pay_crossed")
    assert crossed.value.code == Code.PAYMENT_METHOD_UNSUPPORTED
