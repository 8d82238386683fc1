"""A seller's challenge is paid once by a merchant, whatever the Idempotency-Key or the key that
asks: twenty payments of one MPP challenge (this gateway's own, staging's sandbox token) or of
one x402 offer, each under its own idempotency key and its own key of the merchant, all in
flight together against a real server, make one payment, one debit and one credential; every
other is refused 409 ``4649`` with the first payment's id and status, nothing written for it.
The winner's own key still replays its answer. An x402 offer is bought again when the request
says ``buy_again``; an MPP challenge never is. On both stores."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from x402.http import encode_payment_required_header
from x402.schemas import PaymentRequired, PaymentRequirements, ResourceInfo

from gateway.protocols.base import Demand, Made, Wallet
from gateway.protocols.mpp import challenges
from gateway.protocols.x402 import offers
from gateway.protocols.x402.payer import X402Payer
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.seller_payments import ledger_kinds, payment_rows

API = "/api/public/v1"
RACERS, BALANCE = 20, 100_000
AUTHORIZED, PAID_ALREADY = 1170, 4649
SELLER = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"


@pytest.fixture
async def paying_url(settings: Settings) -> AsyncIterator[tuple[str, Settings]]:
    """A served gateway whose staging wallets pay x402 (a chain's RPC named, never asked here)
    and this gateway's own MPP challenges; its API root, and its settings."""
    # The EVM libraries an x402 credential is signed with, imported before the race: their
    # first import holds the loop for a second, past the rate limiter's deadline.
    import eth_account  # noqa: F401
    import x402.mechanisms.evm  # noqa: F401

    rpc = "http://127.0.0.1:9/rpc"
    root_settings = settings.model_copy(update={"x402_staging_rpc_url": rpc, "x402_rpc_url": rpc})
    async with live_server(root_settings) as root:
        served = root_settings.model_copy(update={"public_base_url": root})
        yield f"{root}{API}", served


def _mpp(settings: Settings, amount: int = 700) -> str:
    """This gateway's own staging challenge, issued to another merchant."""
    made = challenges.challenge(
        settings, merchant_id="m_seller", env="staging", amount_cents=amount, now=utcnow()
    )
    return made.to_www_authenticate(made.realm)


def _x402(amount_cents: int = 700, *, live: Settings | None = None) -> str:
    """A seller's x402 offer on staging's network (``live``: on the network live pays on)."""
    network, asset, name, version = offers.STAGING
    if live is not None:
        network, asset = live.x402_network, live.x402_asset
    need = PaymentRequirements(
        scheme="exact",
        network=network,
        asset=asset,
        amount=str(amount_cents * 10_000),
        pay_to=SELLER,
        max_timeout_seconds=300,
        extra={"name": name, "version": version},
    )
    offer = PaymentRequired(
        x402_version=2, resource=ResourceInfo(url="https://seller.example/a"), accepts=[need]
    )
    return encode_payment_required_header(offer)


async def _keys(make_merchant: MakeMerchant, count: int) -> list[MerchantKey]:
    """``count`` keys of one merchant."""
    first = await make_merchant("staging", balance_cents=BALANCE)
    rest = [await make_merchant("staging", merchant_id=first.merchant_id) for _ in range(count - 1)]
    return [first, *rest]


async def _pay(
    http: httpx.AsyncClient, url: str, key: MerchantKey, idem: str, said: str, **more: Any
) -> httpx.Response:
    body = {"url": "https://seller.example/a", "challenge": said, **more}
    headers = {**key.headers, "Idempotency-Key": idem}
    return await http.post(f"{url}/payments", json=body, headers=headers)


@pytest.mark.both_stores
@pytest.mark.xdist_group("concurrency")
@pytest.mark.parametrize("protocol", ["mpp", "x402"])
async def test_one_challenge_raced_under_twenty_keys_is_paid_once(
    paying_url: tuple[str, Settings], db: Database, make_merchant: MakeMerchant, protocol: str
) -> None:
    url, settings = paying_url
    keys = await _keys(make_merchant, RACERS)
    said = _mpp(settings) if protocol == "mpp" else _x402()
    limits = httpx.Limits(max_connections=RACERS)
    async with local_client(timeout=60, limits=limits) as http:
        replies = await asyncio.gather(
            *(_pay(http, url, key, f"race-{n}", said) for n, key in enumerate(keys))
        )
        codes = Counter((r.status_code, r.json()["code"]) for r in replies)
        assert codes == {(201, AUTHORIZED): 1, (409, PAID_ALREADY): RACERS - 1}, codes
        winner = next(r for r in replies if r.status_code == 201).json()["data"]
        for refused in (r.json() for r in replies if r.status_code == 409):
            assert refused["data"]["payment_id"] == winner["id"]
            assert refused["data"]["status"] in ("pending", "authorized")
        # The winner's own key answers what it did; another key is refused again.
        n = next(n for n, r in enumerate(replies) if r.status_code == 201)
        again = await _pay(http, url, keys[n], f"race-{n}", said)
        assert (again.status_code, again.json()["data"]["id"]) == (201, winner["id"])
        late = await _pay(http, url, keys[0], "late", said)
        assert (late.status_code, late.json()["code"]) == (409, PAID_ALREADY)
        assert late.json()["data"] == {"payment_id": winner["id"], "status": "authorized"}
    merchant = keys[0].merchant_id
    assert [row.id for row in await payment_rows(db, merchant)] == [winner["id"]]
    assert await ledger_kinds(db, merchant) == [("payment_debit", -700)]
    assert await merchant_balance(db, keys[0]) == BALANCE - 700
    await assert_ledger_balanced(db)


@pytest.mark.both_stores
async def test_an_x402_offer_is_bought_again_only_when_asked_and_an_mpp_challenge_never(
    paying_url: tuple[str, Settings], db: Database, make_merchant: MakeMerchant
) -> None:
    url, settings = paying_url
    key = (await _keys(make_merchant, 1))[0]
    offer, challenge = _x402(300), _mpp(settings, 300)
    async with local_client(timeout=30) as http:
        first = await _pay(http, url, key, "x-1", offer)
        assert first.status_code == 201, first.text
        second = await _pay(http, url, key, "x-2", offer)
        assert (second.status_code, second.json()["code"]) == (409, PAID_ALREADY)
        again = await _pay(http, url, key, "x-3", offer, buy_again=True)
        assert again.status_code == 201, again.text
        assert again.json()["data"]["id"] != first.json()["data"]["id"]
        # The claim is the newest purchase's now.
        third = await _pay(http, url, key, "x-4", offer)
        assert third.json()["data"]["payment_id"] == again.json()["data"]["id"]
        paid = await _pay(http, url, key, "m-1", challenge)
        assert paid.status_code == 201, paid.text
        refused = await _pay(http, url, key, "m-2", challenge, buy_again=True)
        assert (refused.status_code, refused.json()["code"]) == (409, PAID_ALREADY)
    assert len(await payment_rows(db, key.merchant_id)) == 3
    assert await merchant_balance(db, key) == BALANCE - 900


@pytest.mark.both_stores
async def test_a_challenge_whose_payment_failed_is_paid_again(
    paying_url: tuple[str, Settings],
    db: Database,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing was paid: the claim no longer stands (the provider refused to make the x402
    credential after the debit, so the payment failed and was released)."""

    async def refused(self: X402Payer, wallet: Wallet, demand: Demand, *, payment_id: str) -> Made:
        raise ApiError(Code.PAYMENT_PROVIDER_ERROR)

    monkeypatch.setattr(X402Payer, "make", refused)
    url, _ = paying_url
    key = await make_merchant("staging", balance_cents=BALANCE)
    offer = _x402(300)
    async with local_client(timeout=30) as http:
        first = await _pay(http, url, key, "f-1", offer)
        assert first.json()["data"]["status"] == "failed", first.text
        second = await _pay(http, url, key, "f-2", offer)
        assert second.json()["code"] == first.json()["code"], second.text
        assert second.json()["data"]["id"] != first.json()["data"]["id"]
    assert {row.status for row in await payment_rows(db, key.merchant_id)} == {"failed"}
    assert await merchant_balance(db, key) == BALANCE
