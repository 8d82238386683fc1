"""x402 v2 as a channel the operator enables: a send refused for funds carries a
``PAYMENT-REQUIRED`` offer beside MPP's challenge; the ``x402`` package's own client, signing
with ``eth-account``, pays it through the stood-in facilitator on its one retry, and the send
is delivered with ``PAYMENT-RESPONSE``. The offer is bound to its merchant and amount, and an
authorization pays once however often it is sent, on both stores."""

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import func, select
from x402 import SchemeRegistration, x402Client, x402ClientConfig
from x402.http import (
    decode_payment_required_header,
    decode_payment_response_header,
    encode_payment_signature_header,
)
from x402.http.clients.httpx import x402HttpxClient
from x402.mechanisms.evm.exact import ExactEvmScheme
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentRequired

from gateway.standins.x402 import X402FacilitatorStandIn as Facilitator
from gateway.store.db import Database
from gateway.store.models import FundingOrder, Topup, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import live_server
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.stand_ins import served

_O = table_of(FundingOrder)
_T = table_of(Topup)
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
PROBLEMS = "https://paymentauth.org/problems/"


@pytest.fixture
async def facilitator() -> AsyncIterator[Facilitator]:
    async with served(Facilitator()) as stand_in:
        yield stand_in


@pytest.fixture
async def x402_url(settings: Settings, facilitator: Facilitator) -> AsyncIterator[str]:
    enabled = settings.model_copy(
        update={"x402_staging_pay_to": PAY_TO, "x402_staging_facilitator_url": facilitator.url}
    )
    async with live_server(enabled) as root:
        yield f"{root}/api/public/v1"


def _body(amount: int) -> dict[str, Any]:
    return {
        "platform": "claude",
        "recipient_email": f"x402-{uuid.uuid4().hex[:8]}@example.com",
        "amount_cents": amount,
    }


def _payer() -> x402Client:
    """An agent's wallet: a fresh key, the client's own spend cap raised to the $10 it pays."""
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
    async with httpx.AsyncClient() as http:
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
    async with httpx.AsyncClient(timeout=60) as http:
        offer = await _offer(http, x402_url, merchant, body)
        signed = await _payer().create_payment_payload(offer)
        headers = {**merchant.headers, "PAYMENT-SIGNATURE": encode_payment_signature_header(signed)}
        replies = await asyncio.gather(
            *(http.post(f"{x402_url}/topup/send", json=body, headers=headers) for _ in range(20))
        )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes.count(1001) == 1 and codes.count(4501) == 19, codes
    assert await _counts(db, merchant.merchant_id) == (1, 1)


async def test_an_altered_or_other_merchants_offer_is_refused_and_nothing_moves(
    x402_url: str, make_merchant: MakeMerchant, db: Database, facilitator: Facilitator
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    other = await make_merchant("staging", balance_cents=0)
    body = _body(500)
    problem = {"Accept": "application/problem+json"}
    async with httpx.AsyncClient() as http:
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
    async with httpx.AsyncClient() as http:
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
