"""A payment whose instrument is not there is refused before the money moves, on both stores.

Live, what pays a seller is configured: the operator's treasury instrument for a wallet that
pays (x402: ``AITOPUP_TREASURY_X402_KEY``; MPP: ``AITOPUP_TREASURY_STRIPE_PAYMENT_METHOD``) or
the merchant's own (its payer key; its saved card). Without it, the payment is refused with its
code and nothing is debited, counted or written (``Payer.ready``), where it was once debited
first and only then failed; a held payment's approval is refused so too, and it stays held."""

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from gateway.standins.x402 import X402FacilitatorStandIn
from gateway.store.engine import Database
from gateway.store.models import SellerPayment, table_of
from gateway.values.code_names import Code
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.funding import pay, x402_offer
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.payers import refused, send_body
from tests.fixtures.policies import set_policy, spend_rows
from tests.fixtures.stand_ins import served

_P = table_of(SellerPayment)


@pytest.fixture
async def facilitator() -> AsyncIterator[X402FacilitatorStandIn]:
    async with served(X402FacilitatorStandIn()) as stand_in:
        yield stand_in


@pytest.fixture
async def keyless(
    settings: Settings, facilitator: X402FacilitatorStandIn
) -> AsyncIterator[httpx.AsyncClient]:
    """A live gateway whose treasury holds no x402 payer key."""
    paying = settings.model_copy(
        update={"x402_rpc_url": f"{facilitator.url}/rpc", "treasury_x402_keys": {}}
    )
    async with running_app(paying) as app, asgi_client(app) as http:
        yield http


async def _payments(db: Database, merchant_id: str) -> list[str]:
    async with db.read() as conn:
        found = await conn.execute(sa.select(_P.c.status).where(_P.c.merchant_id == merchant_id))
        return [row.status for row in found]


async def test_x402_without_the_treasury_key_or_its_own_is_refused_before_the_debit(
    keyless: httpx.AsyncClient, settings: Settings, db: Database, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("live", balance_cents=50_000)
    agent = await make_merchant("live", merchant_id=owner.merchant_id)
    daily = {"limits": [{"amount_cents": 5_000, "interval": "daily"}]}
    await set_policy(db, agent.key_id, {"scopes": ["payments:send"], **daily})

    treasury = await pay(keyless, agent, "no-treasury", x402_offer(settings, 700))
    assert treasury.status_code == 400, treasury.text
    assert treasury.json()["code"] == int(Code.PAYMENT_METHOD_UNSUPPORTED)
    assert "AITOPUP_TREASURY_X402_KEY" in treasury.json()["message"]

    # The merchant's own instrument chosen, with no key of its own kept: refused so too.
    chosen = await keyless.put(
        "/payments/funding",
        json={"protocol": "x402", "funded_by": "own"},
        headers=owner.headers,
    )
    assert chosen.status_code == 200, chosen.text
    own = await pay(keyless, agent, "no-own-key", x402_offer(settings, 700))
    assert own.json()["code"] == int(Code.PAYMENT_METHOD_UNSUPPORTED), own.text
    assert "payer-keys" in own.json()["message"]

    assert await merchant_balance(db, owner) == 50_000
    assert await _payments(db, owner.merchant_id) == []
    assert all(spent == 0 for spent, _ in (await spend_rows(db, agent.key_id)).values())

    # A refusal leaves its Idempotency-Key free: the key set, the same request pays.
    await keyless.post("/payments/payer-keys", json={"protocol": "x402"}, headers=owner.headers)
    paid = await pay(keyless, agent, "no-own-key", x402_offer(settings, 700))
    assert paid.status_code == 201, paid.text
    assert paid.json()["data"]["funded_by"] == "own"
    # Its reply says what happened: the merchant's own key paid, the wallet was not debited.
    assert "the wallet is not debited" in paid.json()["message"]
    assert await merchant_balance(db, owner) == 50_000


async def test_a_held_payment_is_not_approved_while_its_instrument_is_missing(
    facilitator: X402FacilitatorStandIn,
    settings: Settings,
    db: Database,
    make_merchant: MakeMerchant,
) -> None:
    owner = await make_merchant("live", balance_cents=50_000)
    agent = await make_merchant("live", merchant_id=owner.merchant_id)
    policy = {"scopes": ["payments:send"], "approval_above_cents": 100}
    await set_policy(db, agent.key_id, policy)
    rpc = {"x402_rpc_url": f"{facilitator.url}/rpc"}
    async with running_app(settings.model_copy(update=rpc)) as app, asgi_client(app) as http:
        await http.post("/payments/payer-keys", json={"protocol": "x402"}, headers=owner.headers)
        await http.put(
            "/payments/funding",
            json={"protocol": "x402", "funded_by": "own"},
            headers=owner.headers,
        )
        held = await pay(http, agent, "held", x402_offer(settings, 700))
        assert held.status_code == 202, held.text
        payment_id = held.json()["data"]["id"]
        # The merchant's key removed while the payment waits for a person.
        gone = await http.delete("/payments/payer-keys/x402", headers=owner.headers)
        assert gone.status_code == 200, gone.text
        approved = await http.post(f"/payments/{payment_id}/approve", headers=owner.headers)
    assert approved.json()["code"] == int(Code.PAYMENT_METHOD_UNSUPPORTED), approved.text
    assert await _payments(db, owner.merchant_id) == ["pending_approval"]


async def test_mpp_without_the_treasury_method_or_a_saved_card_is_refused_before_the_debit(
    stripe_stood_in_settings: Settings, db: Database, make_merchant: MakeMerchant
) -> None:
    unset = stripe_stood_in_settings.model_copy(update={"treasury_stripe_payment_method": None})
    seller = await make_merchant("live", balance_cents=0)
    owner = await make_merchant("live", balance_cents=50_000)
    async with running_app(unset) as app, asgi_client(app) as http:
        offer = (await refused(http, "", seller, send_body(800))).headers["www-authenticate"]
        treasury = await pay(http, owner, "mpp-no-treasury", offer)
        assert treasury.json()["code"] == int(Code.PAYMENT_METHOD_UNSUPPORTED), treasury.text
        assert "AITOPUP_TREASURY_STRIPE_PAYMENT_METHOD" in treasury.json()["message"]
        await http.put(
            "/payments/funding",
            json={"protocol": "mpp", "funded_by": "own"},
            headers=owner.headers,
        )
        own = await pay(http, owner, "mpp-no-card", offer)
        assert own.status_code == 409, own.text
        assert own.json()["code"] == int(Code.AUTO_TOP_UP_NO_PAYMENT_METHOD)
    assert await merchant_balance(db, owner) == 50_000
    assert await _payments(db, owner.merchant_id) == []
