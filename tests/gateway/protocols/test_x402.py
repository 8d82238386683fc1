"""x402 v2 as a channel the operator enables: a send refused for funds carries a
``PAYMENT-REQUIRED`` offer beside MPP's challenge; the ``x402`` package's own client, signing
with ``eth-account``, pays it through the stood-in facilitator on its one retry, and the send
is delivered with ``PAYMENT-RESPONSE``. The offer is bound to its merchant and amount, and an
authorization pays once however often it is sent, on both stores."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import func, select
from x402 import SchemeRegistration, x402Client, x402ClientConfig
from x402.http import (
    decode_payment_required_header,
    decode_payment_response_header,
    encode_payment_signature_header,
)
from x402.http.clients.httpx import x402HttpxClient
from x402.schemas import PaymentRequired

from gateway.billing.orders import expire_due
from gateway.billing.settling import reconcile
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, Topup, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.billing import swept_of
from tests.fixtures.core import live_server, local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.stand_ins import served

if TYPE_CHECKING:
    from gateway.standins.x402 import X402FacilitatorStandIn as Facilitator

_O = table_of(FundingOrder)
_T = table_of(Topup)
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
PROBLEMS = "https://paymentauth.org/problems/"


@pytest.fixture
async def facilitator() -> AsyncIterator[Facilitator]:
    # Imported here, as the wallet's libraries are in ``_payer``: the stand-in verifies EVM
    # signatures, and the libraries for that take half a second to import in each of the run's
    # processes that collects this module, where one runs its tests.
    from gateway.standins.x402 import X402FacilitatorStandIn

    async with served(X402FacilitatorStandIn()) as stand_in:
        yield stand_in


@pytest.fixture
def x402_settings(settings: Settings, facilitator: Facilitator) -> Settings:
    return settings.model_copy(
        update={"x402_staging_pay_to": PAY_TO, "x402_staging_facilitator_url": facilitator.url}
    )


@pytest.fixture
async def x402_url(x402_settings: Settings) -> AsyncIterator[str]:
    async with live_server(x402_settings) as root:
        yield f"{root}/api/public/v1"


def _body(amount: int) -> dict[str, Any]:
    return {
        "platform": "claude",
        "recipient_email": f"x402-{uuid.uuid4().hex[:8]}@example.com",
        "amount_cents": amount,
    }


def _payer() -> x402Client:
    """An agent's wallet: a fresh key, the client's own spend cap raised to the $10 it pays."""
    # Imported here, as the facilitator's stand-in is: see ``facilitator``.
    from eth_account import Account
    from x402.mechanisms.evm.exact import ExactEvmScheme
    from x402.mechanisms.evm.signers import EthAccountSigner

    scheme = ExactEvmScheme(signer=EthAccountSigner(Account.create()))
    return x402Client.from_config(
        x402ClientConfig(
            schemes=[SchemeRegistration(network="eip155:*", client=scheme)],
            spend_controls={"max_amount_per_payment": "$10"},
        )
    )


async def _counts(db: Database, merchant_id: str) -> tuple[int, int]:
    async with db.read() as conn:
        paid = (
            await conn.execute(
                select(func.count()).where(
                    _O.c.merchant_id == merchant_id,
                    _O.c.channel == "x402",
                    _O.c.status == "completed",
                )
            )
        ).scalar_one()
        sent = (
            await conn.execute(select(func.count()).where(_T.c.merchant_id == merchant_id))
        ).scalar_one()
    return int(paid), int(sent)


async def _offer(http: httpx.AsyncClient, url: str, m: MerchantKey, body: dict[str, Any]) -> Any:
    refused = await http.post(f"{url}/topup/send", json=body, headers=m.headers)
    assert refused.status_code == 402, refused.text
    assert "www-authenticate" in refused.headers  # MPP's challenge beside
    offer = decode_payment_required_header(refused.headers["payment-required"])
    assert isinstance(offer, PaymentRequired)
    return offer


@pytest.mark.both_stores
async def test_the_x402_client_pays_the_offer_and_the_send_is_delivered(
    x402_url: str, make_merchant: MakeMerchant, db: Database, facilitator: Facilitator
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    body = _body(540)
    async with local_client() as http:
        offer = await _offer(http, x402_url, merchant, body)
    [need] = offer.accepts
    assert (offer.x402_version, need.scheme, need.network) == (2, "exact", "eip155:84532")
    assert (need.amount, need.pay_to) == (str(600 * 10_000), PAY_TO)
    async with x402HttpxClient(_payer()) as client:
        reply = await client.post(f"{x402_url}/topup/send", json=body, headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["code"] == 1001
    settled = decode_payment_response_header(reply.headers["payment-response"])
    assert settled.success and settled.transaction == reply.json()["data"]["payment"]["reference"]
    assert facilitator.asked[-2:] == ["verify", "settle"]
    assert await _counts(db, merchant.merchant_id) == (1, 1)


@pytest.mark.both_stores
async def test_one_authorization_sent_twenty_times_at_once_pays_once_and_sends_once(
    x402_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    body = _body(500)
    async with local_client(timeout=60) as http:
        offer = await _offer(http, x402_url, merchant, body)
        signed = await _payer().create_payment_payload(offer)
        headers = {**merchant.headers, "PAYMENT-SIGNATURE": encode_payment_signature_header(signed)}
        replies = await asyncio.gather(
            *(http.post(f"{x402_url}/topup/send", json=body, headers=headers) for _ in range(20))
        )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes.count(1001) == 1 and codes.count(4501) == 19, codes
    assert await _counts(db, merchant.merchant_id) == (1, 1)


@pytest.mark.both_stores
async def test_one_offer_paid_by_five_payers_at_once_is_settled_once(
    x402_url: str, make_merchant: MakeMerchant, db: Database, facilitator: Facilitator
) -> None:
    """Five wallets sign five authorizations for one offer, presented at once under five keys
    of its merchant: the offer's order is written once, by the first; the facilitator settles
    that one only, and every other is refused before it is asked (``4505``): nothing of theirs
    moves, and the wallet is credited once."""
    merchant = await make_merchant("staging", balance_cents=0)
    keys = [merchant, *[await make_merchant(merchant_id=merchant.merchant_id) for _ in range(4)]]
    body = _body(850)
    async with local_client(timeout=60) as http:
        offer = await _offer(http, x402_url, merchant, body)
        signed = [await _payer().create_payment_payload(offer) for _ in keys]
        replies = await asyncio.gather(
            *(
                http.post(
                    f"{x402_url}/topup/send",
                    json=body,
                    headers={
                        **key.headers,
                        "PAYMENT-SIGNATURE": encode_payment_signature_header(s),
                    },
                )
                for key, s in zip(keys, signed, strict=True)
            )
        )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes == [1001, 4505, 4505, 4505, 4505], codes
    assert facilitator.asked.count("settle") == 1
    assert await _counts(db, merchant.merchant_id) == (1, 1)
    [order] = await _orders(db, merchant.merchant_id)
    assert (order.status, int(order.credit_cents)) == ("completed", 900)


async def test_two_offers_made_in_one_second_for_one_amount_are_two_offers(
    x402_settings: Settings,
) -> None:
    """Each refusal's offer carries a nonce of its own under its binding: never one that two
    agents would both pay."""
    from gateway.protocols.x402 import offers

    made = [
        offers.requirement(
            x402_settings, merchant_id="m_1", env="staging", amount_cents=500, now=utcnow()
        )
        for _ in range(2)
    ]
    first, second = ((need.extra or {})["aitopup"] for need in made)
    assert first["nonce"] != second["nonce"] and first["binding"] != second["binding"]


async def test_an_altered_or_other_merchants_offer_is_refused_and_nothing_moves(
    x402_url: str, make_merchant: MakeMerchant, db: Database, facilitator: Facilitator
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    other = await make_merchant("staging", balance_cents=0)
    body = _body(500)
    problem = {"Accept": "application/problem+json"}
    async with local_client() as http:
        offer = await _offer(http, x402_url, merchant, body)
        signed = await _payer().create_payment_payload(offer)
        header = encode_payment_signature_header(signed)
        stolen = await http.post(
            f"{x402_url}/topup/send",
            json=body,
            headers={**other.headers, "PAYMENT-SIGNATURE": header, **problem},
        )
        assert stolen.json()["type"] == PROBLEMS + "invalid-challenge"
        raw = json.loads(base64.b64decode(header))
        raw["accepted"]["amount"] = "10000"
        altered = base64.b64encode(json.dumps(raw).encode()).decode()
        cheap = await http.post(
            f"{x402_url}/topup/send",
            json=body,
            headers={**merchant.headers, "PAYMENT-SIGNATURE": altered, **problem},
        )
        assert cheap.json()["type"] == PROBLEMS + "invalid-challenge"
        assert "payment-required" in cheap.headers  # a fresh offer comes with the refusal
    assert facilitator.asked == []
    assert await _counts(db, merchant.merchant_id) == (0, 0)
    assert await _counts(db, other.merchant_id) == (0, 0)


async def test_staging_terms_offer_nothing_in_live(
    x402_url: str, make_merchant: MakeMerchant
) -> None:
    """Staging's facilitator is staging's: a live send refused for funds offers no x402."""
    merchant = await make_merchant("live", balance_cents=0)
    async with local_client() as http:
        refused = await http.post(
            f"{x402_url}/topup/send", json=_body(500), headers=merchant.headers
        )
        assert refused.json()["code"] == 4001, refused.text
        assert "payment-required" not in refused.headers
        signed = await http.post(
            f"{x402_url}/topup/send",
            json=_body(500),
            headers={**merchant.headers, "PAYMENT-SIGNATURE": "eyJ4NDAyVmVyc2lvbiI6Mn0="},
        )
        assert signed.json()["code"] == 4504, signed.text


async def _orders(db: Database, merchant_id: str) -> list[Any]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_O).where(_O.c.merchant_id == merchant_id, _O.c.channel == "x402")
        )
        return list(rows)


async def _signed(http: httpx.AsyncClient, url: str, merchant: MerchantKey, body: Any) -> str:
    offer = await _offer(http, url, merchant, body)
    return encode_payment_signature_header(await _payer().create_payment_payload(offer))


@pytest.mark.both_stores
async def test_a_settle_whose_answer_is_lost_is_asked_again_at_once_and_credits_once(
    x402_url: str, make_merchant: MakeMerchant, db: Database, facilitator: Facilitator
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    facilitator.lose_settles = 1  # settled, its answer lost on the way back
    async with x402HttpxClient(_payer()) as client:
        reply = await client.post(
            f"{x402_url}/topup/send", json=_body(500), headers=merchant.headers
        )
    assert reply.json()["code"] == 1001, reply.text
    assert facilitator.asked[-3:] == ["verify", "settle", "settle"]
    assert len(facilitator.settled) == 1
    assert await _counts(db, merchant.merchant_id) == (1, 1)


async def test_a_settle_asked_again_whose_nonce_was_used_is_that_payment(
    x402_url: str, make_merchant: MakeMerchant, db: Database, facilitator: Facilitator
) -> None:
    """A facilitator that keeps no record of what it broadcast answers the settle asked again
    as the chain does (the nonce used): that is the first settle executed, credited once."""
    merchant = await make_merchant("staging", balance_cents=0)
    facilitator.lose_settles, facilitator.remembers = 1, False
    try:
        async with x402HttpxClient(_payer()) as client:
            reply = await client.post(
                f"{x402_url}/topup/send", json=_body(500), headers=merchant.headers
            )
    finally:
        facilitator.remembers = True
    assert reply.json()["code"] == 1001, reply.text
    assert decode_payment_response_header(reply.headers["payment-response"]).success
    assert await _counts(db, merchant.merchant_id) == (1, 1)


@pytest.mark.both_stores
async def test_a_settle_lost_twice_is_settled_by_reconciliation_once(
    x402_url: str,
    x402_settings: Settings,
    make_merchant: MakeMerchant,
    db: Database,
    facilitator: Facilitator,
) -> None:
    """The settle happened, both answers lost: the order stays pending with its settle body;
    the same payment sent again is refused (never settled twice); the sweep asks the
    facilitator again, credits the order once, and a second sweep finds nothing to do."""
    merchant = await make_merchant("staging", balance_cents=0)
    body = _body(500)
    async with local_client(timeout=30) as http:
        header = await _signed(http, x402_url, merchant, body)
        facilitator.lose_settles = 2
        headers = {**merchant.headers, "PAYMENT-SIGNATURE": header}
        lost = await http.post(f"{x402_url}/topup/send", json=body, headers=headers)
        assert (lost.status_code, lost.json()["code"]) == (502, 4107), lost.text
        [order] = await _orders(db, merchant.merchant_id)
        assert order.status == "pending" and order.payment_payload is not None
        again = await http.post(f"{x402_url}/topup/send", json=body, headers=headers)
        assert again.json()["code"] == 4501, again.text
    assert len(facilitator.settled) == 1

    later = utcnow() + timedelta(seconds=x402_settings.reconcile_after_seconds + 1)
    [swept] = swept_of(await reconcile.sweep(db, x402_settings, now=later), order.id)
    assert swept.data["result"] == "credited", swept.data
    [order] = await _orders(db, merchant.merchant_id)
    [settled] = facilitator.settled.values()
    assert (order.status, order.provider_payment_id) == ("completed", settled["transaction"])
    assert swept_of(await reconcile.sweep(db, x402_settings, now=later), order.id) == []
    assert len(facilitator.settled) == 1
    async with local_client() as http:
        balance = await http.get(f"{x402_url}/balance", headers=merchant.headers)
    assert balance.json()["data"]["balance_cents"] == 500


@pytest.mark.both_stores
async def test_a_settle_that_never_arrived_is_settled_in_its_window_or_failed_after_it(
    x402_url: str,
    x402_settings: Settings,
    make_merchant: MakeMerchant,
    db: Database,
    facilitator: Facilitator,
) -> None:
    """Nothing settled, no answer either time: the sweep settles it while the authorization
    is open (the payer's money, credited), and fails one whose window closed (nothing moved,
    nothing credited)."""
    outcomes = []
    for closed in (False, True):
        merchant = await make_merchant("staging", balance_cents=0)
        async with local_client(timeout=30) as http:
            header = await _signed(http, x402_url, merchant, _body(500))
            facilitator.drop_settles = 2
            headers = {**merchant.headers, "PAYMENT-SIGNATURE": header}
            lost = await http.post(f"{x402_url}/topup/send", json=_body(500), headers=headers)
            assert lost.status_code >= 500, lost.text
        # Past the sweep's wait from this order's own making: on a busy machine an order is made
        # seconds after the test began, and a sweep leaves an order younger than its wait alone.
        later = utcnow() + timedelta(seconds=x402_settings.reconcile_after_seconds + 1)
        closes = later.timestamp() + 3600
        facilitator.now = functools.partial(float, closes) if closed else time.time
        # An order its facilitator does not answer for waits for the next sweep: a dropped
        # settle the request did not use up is the sweep's to meet, and the one after goes on.
        for _ in range(3):
            await reconcile.sweep(db, x402_settings, now=later)
            [order] = await _orders(db, merchant.merchant_id)
            if order.status != "pending":
                break
        outcomes.append((None, order.status, await _counts(db, merchant.merchant_id)))
    facilitator.now = time.time
    assert outcomes[0][1:] == ("completed", (1, 0))
    assert outcomes[1][1:] == ("failed", (0, 0))
    assert len(facilitator.settled) == 1


@pytest.mark.both_stores
async def test_a_settle_lost_past_the_offers_expiry_is_asked_first_and_credited_once(
    x402_url: str,
    x402_settings: Settings,
    make_merchant: MakeMerchant,
    db: Database,
    facilitator: Facilitator,
) -> None:
    """The facilitator settled, both answers lost, and the offer's window passed before the
    sweep's own wait (as by default: 300 s against 600 s): the expiry sweep leaves the order,
    reconciliation asks the facilitator as soon as it is past its expiry, and credits it once."""
    unhurried = x402_settings.model_copy(update={"reconcile_after_seconds": 3600})
    merchant = await make_merchant("staging", balance_cents=0)
    body = _body(500)
    async with local_client(timeout=30) as http:
        header = await _signed(http, x402_url, merchant, body)
        facilitator.lose_settles = 2
        headers = {**merchant.headers, "PAYMENT-SIGNATURE": header}
        lost = await http.post(f"{x402_url}/topup/send", json=body, headers=headers)
        assert lost.json()["code"] == 4107, lost.text
    [order] = await _orders(db, merchant.merchant_id)
    later = order.expires_at + timedelta(seconds=1)
    await expire_due(db, now=later)
    [order] = await _orders(db, merchant.merchant_id)
    assert order.status == "pending"
    [swept] = swept_of(await reconcile.sweep(db, unhurried, now=later), order.id)
    assert swept.data["result"] == "credited", swept.data
    assert swept_of(await reconcile.sweep(db, unhurried, now=later), order.id) == []
    [order] = await _orders(db, merchant.merchant_id)
    assert order.status == "completed"
    assert len(facilitator.settled) == 1
    assert await _counts(db, merchant.merchant_id) == (1, 0)


@pytest.mark.both_stores
async def test_a_slow_facilitator_holds_the_paid_retry_no_longer_than_the_bound(
    x402_settings: Settings,
    make_merchant: MakeMerchant,
    db: Database,
    facilitator: Facilitator,
) -> None:
    """Each exchange answers within the payment bound, but verify then settle do not: the
    retry answers 4108 at the bound, its order pending; reconciliation settles it, once."""
    bounded = x402_settings.model_copy(update={"payment_timeout_seconds": 1.0})
    merchant = await make_merchant("staging", balance_cents=0)
    body = _body(500)
    async with live_server(bounded) as root, local_client(timeout=30) as http:
        url = f"{root}/api/public/v1"
        header = await _signed(http, url, merchant, body)
        facilitator.faults.delay = 0.6
        try:
            headers = {**merchant.headers, "PAYMENT-SIGNATURE": header}
            reply = await http.post(f"{url}/topup/send", json=body, headers=headers)
        finally:
            facilitator.faults.delay = 0.0
        assert (reply.status_code, reply.json()["code"]) == (504, 4108), reply.text
    [order] = await _orders(db, merchant.merchant_id)
    assert order.status == "pending"
    later = order.expires_at + timedelta(seconds=1)
    await expire_due(db, now=later)
    [swept] = swept_of(await reconcile.sweep(db, bounded, now=later), order.id)
    assert swept.data["result"] == "credited", swept.data
    assert len(facilitator.settled) == 1
    assert await _counts(db, merchant.merchant_id) == (1, 0)
