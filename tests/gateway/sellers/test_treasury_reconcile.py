"""The treasury reconciled by the worker against its provider, on both stores: for live x402,
the chain's balance (ERC-20 ``balanceOf``, the facilitator stand-in's chain) of the treasury's
payer address beside what the ledger has out; for MPP, Stripe's stand-in asked of each payment
out (the token issued on the treasury's card, what the seller captured with it). The result
read on the admin API, and a mismatch told to the operator once, again only after a run that
found none."""

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.sellers import reconcile
from gateway.standins.x402 import X402FacilitatorStandIn
from gateway.store.engine import Database
from gateway.store.models import Mail, TreasuryCheck, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.clock import Stepped
from tests.fixtures.core import TEST_SECRET, asgi_client, running_app
from tests.fixtures.funding import TREASURY, agent_key, api, mpp_paid, pay, x402_offer
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.payers import refused, send_body, treasury_sealed
from tests.fixtures.stand_ins import served
from tests.fixtures.stripe import StripeStandIn
from tests.fixtures.tally_payer import TallyPayer
from tests.fixtures.treasury import used

__all__ = ["api"]

SEALER = Sealer(TEST_SECRET.encode())
LIVE = {"env": "live", "protocol": "x402"}
_M = table_of(Mail)
_C = table_of(TreasuryCheck)


@pytest.fixture
async def facilitator() -> AsyncIterator[X402FacilitatorStandIn]:
    async with served(X402FacilitatorStandIn()) as stand_in:
        yield stand_in


@pytest.fixture
def paying(settings: Settings, facilitator: X402FacilitatorStandIn) -> Settings:
    """Live x402 paid from the treasury's sealed key, the chain asked at the stand-in."""
    keys = {settings.x402_network: treasury_sealed(settings.x402_network, TREASURY)}
    return settings.model_copy(
        update={
            "x402_rpc_url": f"{facilitator.url}/rpc",
            "treasury_x402_keys": keys,
            "operator_emails": "ops@aitopup.example",
        }
    )


@pytest.fixture
async def chained(paying: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(paying) as app, asgi_client(app) as http:
        yield http


async def _told_of(db: Database, ids: list[str], env: str, protocol: str) -> list[dict[str, Any]]:
    """What the mails among ``ids`` that tell of ``protocol`` in ``env`` say."""
    async with db.read() as conn:
        found = (await conn.execute(select(_M).where(_M.c.id.in_(ids)))).all()
    said = [
        json.loads(SEALER.open(row.data_sealed, context=row.id)) | {"kind": row.kind}
        for row in found
    ]
    return [s for s in said if (s["env"], s["protocol"]) == (env, protocol)]


async def _check(db: Database, paying: Settings) -> list[dict[str, Any]]:
    return await _told_of(db, await reconcile.check(db, SEALER, paying, utcnow()), "live", "x402")


async def _read(admin_client: httpx.AsyncClient) -> dict[str, Any]:
    listed = (await admin_client.get("/treasury")).json()["data"]
    [found] = [r for r in listed if (r["env"], r["protocol"]) == ("live", "x402")]
    return dict(found)


async def test_the_chains_balance_below_what_is_out_is_told_once_and_read_on_the_admin_api(
    chained: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    paying: Settings,
    facilitator: X402FacilitatorStandIn,
    db: Database,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    per_cent = paying.x402_units_per_cent
    set_ = await admin_client.put("/treasury", json={**LIVE, "float_cents": 10_000, "low_cents": 0})
    assert set_.status_code == 200, set_.text
    assert (await _read(admin_client))["reconciled_at"] is None
    owner = await make_merchant("live", balance_cents=50_000)
    agent = await agent_key(make_merchant, db, owner)
    paid = await pay(chained, agent, "rec-1", x402_offer(paying, 1_000))
    assert paid.status_code == 201, paid.text
    facilitator.fund(paying.x402_asset, TREASURY.address, 500 * per_cent)

    # $5.00 on chain, $10.00 out: a mismatch, told once.
    [told] = await _check(db, paying)
    assert told["kind"] == "treasury_drift" and told["drifts"] == 1
    assert told["detail"] == ["the provider's balance, 500 cents, is below what is out, 1000 cents"]
    state = await _read(admin_client)
    assert (state["provider_cents"], state["drifts"]) == (500, 1)
    assert state["reconciled_at"] is not None and state["drift_detail"] == told["detail"]
    assert await _check(db, paying) == []  # the same mismatch: not told again

    # Funded: it agrees, and the alert re-arms; out past the balance again, told again.
    facilitator.fund(paying.x402_asset, TREASURY.address, 1_000 * per_cent)
    assert await _check(db, paying) == []
    state = await _read(admin_client)
    assert (state["provider_cents"], state["drifts"], state["drift_detail"]) == (1_500, 0, [])
    again = await pay(chained, agent, "rec-2", x402_offer(paying, 600))
    assert again.status_code == 201, again.text
    [told] = await _check(db, paying)
    assert told["detail"] == [
        "the provider's balance, 1500 cents, is below what is out, 1600 cents"
    ]


async def test_the_chain_answers_balance_of_as_an_erc20_does(
    facilitator: X402FacilitatorStandIn, paying: Settings
) -> None:
    """The stand-in's ``balanceOf``: the funded address's units, moved by a settle, 0 for any
    other."""
    from gateway.protocols.x402 import chain

    asset = paying.x402_asset
    facilitator.fund(asset, TREASURY.address, 123)
    assert await chain.balance_of(paying, "live", asset=asset, holder=TREASURY.address) == 123
    other = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    assert await chain.balance_of(paying, "live", asset=asset, holder=other) == 0


async def test_an_mpp_payment_the_seller_captured_at_stripe_is_a_drift_until_the_worker_learns_it(
    api: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    """Stripe's stand-in, asked as the worker asks it (the token issued on the treasury's card
    and what the seller captured with it): captured there, authorized here, a drift told to the
    operator; once the worker has learned it, the payment no longer drifts."""
    told = stripe_stood_in_settings.model_copy(update={"operator_emails": "ops@aitopup.example"})
    seller = await make_merchant("live", balance_cents=0)
    owner = await make_merchant("live", balance_cents=50_000)
    agent = await agent_key(make_merchant, db, owner)
    paid = await mpp_paid(api, seller, agent, "rec-mpp")
    assert paid["funded_by"] == "wallet"

    mails = await reconcile.check(db, SEALER, told, utcnow())
    said = await _told_of(db, mails, "live", "mpp")
    assert [f"{paid['id']}: ledger authorized 0, provider used 800"] == [
        line for s in said for line in s["detail"] if line.startswith(paid["id"])
    ]
    await used(db, told, paid["id"], Stepped())  # the worker looks at the payment
    await reconcile.check(db, SEALER, told, utcnow())
    async with db.read() as conn:
        detail = (
            await conn.execute(
                select(_C.c.detail).where(_C.c.env == "live", _C.c.protocol == "mpp")
            )
        ).scalar_one()
    assert paid["id"] not in detail


def _balance_lines(detail: list[str]) -> list[str]:
    """What a reconciliation said of the provider's balance (the rail's other payments out,
    written by the tests before this one in its database, may drift on their own)."""
    return [line for line in detail if line.startswith("the provider's balance")]


@pytest.fixture
def issuing(stripe_stand_in: StripeStandIn) -> Iterator[StripeStandIn]:
    """The stood-in account without Issuing, and so again after the test: it is shared."""

    def cleared() -> None:
        stripe_stand_in.issued.issuing = None
        stripe_stand_in.issued.issuing_cards.clear()

    cleared()
    yield stripe_stand_in
    cleared()


async def test_mpp_stripes_issuing_balance_below_what_is_out_is_told_once(
    issuing: StripeStandIn,
    api: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    stripe_stood_in_settings: Settings,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    """The treasury's card issued by Stripe: the account's Issuing balance (``GET /v1/balance``,
    as Stripe answers it) beside what the MPP rail has out, as x402's chain balance is."""
    told = stripe_stood_in_settings.model_copy(update={"operator_emails": "ops@aitopup.example"})
    live = {"env": "live", "protocol": "mpp"}
    set_ = await admin_client.put("/treasury", json={**live, "float_cents": 10_000, "low_cents": 0})
    assert set_.status_code == 200, set_.text

    # No Issuing on the account: Stripe tells no balance of the card, nothing to set beside.
    await reconcile.check(db, SEALER, told, utcnow())
    listed = (await admin_client.get("/treasury")).json()["data"]
    [state] = [r for r in listed if (r["env"], r["protocol"]) == ("live", "mpp")]
    assert state["provider_cents"] is None
    assert _balance_lines(state["drift_detail"]) == []

    seller = await make_merchant("live", balance_cents=0)
    owner = await make_merchant("live", balance_cents=50_000)
    agent = await agent_key(make_merchant, db, owner)
    offer = (await refused(api, "", seller, send_body(800))).headers["www-authenticate"]
    paid = await pay(api, agent, "rec-mpp-issuing", offer)
    assert paid.status_code == 201, paid.text
    stripe_stand_in.fund_issuing(500)

    # $5.00 on the Issuing balance, $8.00 out: a drift, the rail's line first, on the admin
    # API (told by mail once, unless the rail's other payments out drifted already).
    await reconcile.check(db, SEALER, told, utcnow())
    listed = (await admin_client.get("/treasury")).json()["data"]
    [state] = [r for r in listed if (r["env"], r["protocol"]) == ("live", "mpp")]
    assert state["provider_cents"] == 500 and state["drifts"] >= 1
    assert state["drift_detail"][0] == (
        "the provider's balance, 500 cents, is below what is out, 800 cents"
    )

    # Funded: it agrees.
    stripe_stand_in.fund_issuing(1_000)
    await reconcile.check(db, SEALER, told, utcnow())
    listed = (await admin_client.get("/treasury")).json()["data"]
    [state] = [r for r in listed if (r["env"], r["protocol"]) == ("live", "mpp")]
    assert state["provider_cents"] == 1_500
    assert _balance_lines(state["drift_detail"]) == []
    assert ("GET", "/v1/balance") in stripe_stand_in.requests
