"""One party pays a seller, once, on both stores, following the money through the stand-ins.

From the wallet (the default): the operator's treasury pays (MPP: a Shared Payment Token issued
on the operator's payment method in Stripe's stand-in; x402: an authorization signed by the
operator's payer key, settled by the facilitator's stand-in) and the merchant's wallet is
debited once; the merchant's saved card and own key are never reached. By the merchant's own
instrument, its explicit choice (``PUT /payments/funding``, ``billing:card`` alone): its card or
key pays once and the wallet is not debited, while the key's windows still count the payment,
so a limit still refuses. A key holding only ``payments:send`` cannot make that choice."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import update as update_
from x402.http import decode_payment_signature_header
from x402.schemas import PaymentPayload

from gateway.protocols.x402 import treasury_key
from gateway.protocols.x402.payer import X402Payer
from gateway.standins.x402 import X402FacilitatorStandIn
from gateway.store.engine import Database
from gateway.store.models import PayerKey, table_of
from gateway.values.code_names import Code
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import asgi_client, local_client, running_app
from tests.fixtures.funding import TREASURY, agent_key, api, mpp_paid, pay, x402_offer
from tests.fixtures.merchants import MakeMerchant, MerchantKey, merchant_balance
from tests.fixtures.payers import refused, send_body, treasury_sealed
from tests.fixtures.policies import spend_rows
from tests.fixtures.stand_ins import served
from tests.fixtures.stripe import TREASURY_CARD, StripeStandIn

FUNDING = "/payments/funding"
SETUP = "/wallet/auto-top-up"
PAYER_KEYS = "/payments/payer-keys"
_K = table_of(PayerKey)

__all__ = ["api"]


async def _choose(http: httpx.AsyncClient, who: MerchantKey, protocol: str, by: str) -> Any:
    return await http.put(
        FUNDING, json={"protocol": protocol, "funded_by": by}, headers=who.headers
    )


async def _payment(http: httpx.AsyncClient, agent: MerchantKey, payment_id: str) -> Any:
    return (await http.get(f"/payments/{payment_id}", headers=agent.headers)).json()["data"]


# --- MPP, live, through Stripe's stand-in.


def _captured(stand_in: StripeStandIn, method: str) -> int:
    """What sellers captured with tokens issued on ``method``, in cents."""
    return sum(
        int(t["usage_details"]["amount_captured"]["value"])
        for t in stand_in.issued.tokens.values()
        if t["payment_method"] == method
    )


async def test_mpp_the_treasury_pays_from_the_wallet_and_the_merchants_card_when_it_chooses(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    seller = await make_merchant("live", balance_cents=0)
    owner = await make_merchant("live", balance_cents=50_000)
    opened = await api.post(f"{SETUP}/setup", headers=owner.headers)
    card = stripe_stand_in.complete_setup(opened.json()["data"]["url"].rsplit("/", 1)[1])
    assert (await api.get(SETUP, headers=owner.headers)).json()["data"]["payment_method"]
    agent = await agent_key(make_merchant, db, owner)
    treasury_before = _captured(stripe_stand_in, TREASURY_CARD)

    # From the wallet: the treasury's card pays the seller; the wallet is debited once.
    first = await mpp_paid(api, seller, agent, "mpp-wallet")
    assert first["funded_by"] == "wallet"
    assert await merchant_balance(db, owner) == 49_200
    assert _captured(stripe_stand_in, TREASURY_CARD) - treasury_before == 800
    assert _captured(stripe_stand_in, card) == 0
    read = await _payment(api, agent, first["id"])
    assert read["funded_by"] == "wallet"

    # The agent's key cannot choose the merchant's card; the owner's key can.
    refusal = await _choose(api, agent, "mpp", "own")
    assert (refusal.status_code, refusal.json()["code"]) == (403, int(Code.KEY_SCOPE_MISSING))
    chosen = await _choose(api, owner, "mpp", "own")
    assert chosen.json()["data"]["funded_by"] == "own", chosen.text

    # Its own card: charged once; the wallet is not debited; the key's day still counts it.
    second = await mpp_paid(api, seller, agent, "mpp-own")
    assert second["funded_by"] == "own"
    assert await merchant_balance(db, owner) == 49_200
    assert _captured(stripe_stand_in, card) == 800
    assert _captured(stripe_stand_in, TREASURY_CARD) - treasury_before == 800
    assert [spent for spent, _ in (await spend_rows(db, agent.key_id)).values()] == [1_600]
    offer = (await refused(api, "", seller, send_body(800))).headers["www-authenticate"]
    over = await pay(api, agent, "mpp-over", offer)
    assert over.json()["code"] == int(Code.KEY_LIMIT_REACHED), over.text
    assert await merchant_balance(db, owner) == 49_200
    on_card = [t for t in stripe_stand_in.issued.tokens.values() if t["payment_method"] == card]
    assert len(on_card) == 1


# --- x402, live, through the facilitator's stand-in and its chain.


@pytest.fixture
async def facilitator() -> AsyncIterator[X402FacilitatorStandIn]:
    async with served(X402FacilitatorStandIn()) as stand_in:
        yield stand_in


@pytest.fixture
async def chained(
    settings: Settings, facilitator: X402FacilitatorStandIn
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway asking the stand-in's chain, its treasury holding a sealed payer key for its
    network."""
    rpc = f"{facilitator.url}/rpc"
    keys = {settings.x402_network: treasury_sealed(settings.x402_network, TREASURY)}
    paying = settings.model_copy(update={"x402_rpc_url": rpc, "treasury_x402_keys": keys})
    async with running_app(paying) as app, asgi_client(app) as http:
        yield http


async def _settled(facilitator: X402FacilitatorStandIn, value: str) -> None:
    """The seller settles the credential: the chain moves the amount from its signer."""
    signed = decode_payment_signature_header(value)
    assert isinstance(signed, PaymentPayload)
    body = {
        "x402Version": 2,
        "paymentPayload": signed.model_dump(by_alias=True, exclude_none=True),
        "paymentRequirements": signed.accepted.model_dump(by_alias=True, exclude_none=True),
    }
    async with local_client() as http:
        done = await http.post(f"{facilitator.url}/settle", json=body)
    assert done.json()["success"] is True, done.text


def _moved_from(facilitator: X402FacilitatorStandIn, address: str, per_cent: int) -> int:
    """The cents the chain moved from ``address``."""
    units = sum(
        int(done["amount"])
        for done in facilitator.settled.values()
        if done["payer"].lower() == address.lower()
    )
    return units // per_cent


async def test_x402_the_treasury_key_pays_from_the_wallet_and_the_merchants_key_when_it_chooses(
    chained: httpx.AsyncClient,
    settings: Settings,
    facilitator: X402FacilitatorStandIn,
    db: Database,
    make_merchant: MakeMerchant,
) -> None:
    per_cent = settings.x402_units_per_cent
    owner = await make_merchant("live", balance_cents=50_000)
    mine = await chained.post(
        "/payments/payer-keys", json={"protocol": "x402"}, headers=owner.headers
    )
    own_address = mine.json()["data"]["address"]
    agent = await agent_key(make_merchant, db, owner)

    # From the wallet: the treasury's key signs; $10.00 leaves its address; the wallet 49,000.
    paid = await pay(chained, agent, "x402-wallet", x402_offer(settings, 1_000))
    assert paid.status_code == 201, paid.text
    data = paid.json()["data"]
    assert data["funded_by"] == "wallet"
    await _settled(facilitator, data["value"])
    assert _moved_from(facilitator, TREASURY.address, per_cent) == 1_000
    assert _moved_from(facilitator, own_address, per_cent) == 0
    assert await merchant_balance(db, owner) == 49_000

    # Its own key, by its choice: it pays once; the wallet stays; the key's day counts it.
    assert (await _choose(chained, agent, "x402", "own")).status_code == 403
    assert (await _choose(chained, owner, "x402", "own")).status_code == 200
    own = await pay(chained, agent, "x402-own", x402_offer(settings, 500))
    assert own.status_code == 201, own.text
    assert own.json()["data"]["funded_by"] == "own"
    await _settled(facilitator, own.json()["data"]["value"])
    assert _moved_from(facilitator, own_address, per_cent) == 500
    assert _moved_from(facilitator, TREASURY.address, per_cent) == 1_000
    assert await merchant_balance(db, owner) == 49_000
    over = await pay(chained, agent, "x402-over", x402_offer(settings, 200))
    assert over.json()["code"] == int(Code.KEY_LIMIT_REACHED), over.text
    listed = await chained.get(FUNDING, headers=owner.headers)
    by = {row["protocol"]: row["funded_by"] for row in listed.json()["data"]}
    assert by["x402"] == "own" and by["mpp"] == "wallet"


async def test_x402_a_key_that_does_not_open_is_refused_before_the_debit(
    settings: Settings,
    facilitator: X402FacilitatorStandIn,
    db: Database,
    make_merchant: MakeMerchant,
) -> None:
    """The treasury's key sealed under another operator's secret, and a merchant's own key
    that no longer opens under this gateway's: each payment refused 4504 before it is written,
    the wallet as it was, nothing signed."""
    network = settings.x402_network
    given = X402Payer().own_key("0x" + bytes(TREASURY.key).hex())
    elsewhere = SecretStr(treasury_key.seal(Sealer(b"another operator's secret!!"), network, given))
    update = {"x402_rpc_url": f"{facilitator.url}/rpc", "treasury_x402_keys": {network: elsewhere}}
    async with running_app(settings.model_copy(update=update)) as app, asgi_client(app) as http:
        owner = await make_merchant("live", balance_cents=50_000)
        agent = await agent_key(make_merchant, db, owner)
        paid = await pay(http, agent, "x402-sealed-elsewhere", x402_offer(settings, 1_000))
        assert paid.json()["code"] == int(Code.PAYMENT_METHOD_UNSUPPORTED), paid.text
        assert "does not open" in paid.json()["message"]

        # The merchant's own key, its seal no longer this gateway's (as after a new secret).
        assert await http.post(PAYER_KEYS, json={"protocol": "x402"}, headers=owner.headers)
        async with db.transaction() as conn:
            await conn.execute(update_(_K).values(key_sealed=elsewhere.get_secret_value()))
        assert (await _choose(http, owner, "x402", "own")).status_code == 200
        own = await pay(http, agent, "x402-own-sealed-elsewhere", x402_offer(settings, 500))
        assert own.json()["code"] == int(Code.PAYMENT_METHOD_UNSUPPORTED), own.text
        assert "set it again" in own.json()["message"]

        assert await merchant_balance(db, owner) == 50_000
        listed = await http.get("/payments", headers=owner.headers)
        assert listed.json()["data"] == [], listed.text
    assert facilitator.settled == {}
