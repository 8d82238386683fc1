"""Every refusal of a payment to a seller, on each store: the envelope with its own code, and
nothing written (no payment, the wallet, its ledger, the events and the key's spend as they
were): the challenge read first, then the key's policy, then the store's rules. (A rule that
holds a payment for approval refuses nothing: ``test_held``.)"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.callers import authenticate
from gateway.sellers import service as sellers
from gateway.sellers.schemas import PaymentCreate
from gateway.store.engine import Database
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET, asgi_client, running_app
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import SELLER, pay, written
from tests.fixtures.tally_payer import TallyPayer, challenge

PAYING = ["payments:send"]


async def _refused(
    client: httpx.AsyncClient,
    db: Database,
    merchant: MerchantKey,
    status: int,
    code: int,
    *,
    url: str = SELLER,
    said: str | None = None,
) -> dict[str, Any]:
    """A payment refused with ``code``: the envelope, and nothing written."""
    before = await written(db, merchant)
    refused = await pay(client, merchant, f"r-{code}-{len(str(said))}", url=url, said=said)
    body = refused.json()
    assert (refused.status_code, body["code"], body["success"]) == (status, code, False), body
    assert set(body) == {
        "success", "code", "message", "transaction_id", "status", "timestamp", "data",
    }  # fmt: skip
    assert await written(db, merchant) == before
    return dict(body)


@pytest.mark.parametrize(
    ("said", "status", "code"),
    [
        ('Tally amount="x", currency="usd"', 402, 4500),  # malformed: its protocol's shape
        (challenge(expires=datetime.now(UTC) - timedelta(seconds=1)), 402, 4502),  # expired
        (challenge(currency="eur"), 400, 4504),  # another currency
        (challenge(scheme="Other"), 400, 4504),  # no protocol reads it
        (challenge(0), 422, 4642),  # nothing to pay
        (challenge(10**9), 422, 4642),  # more than one payment may be
    ],
    ids=["malformed", "expired", "currency", "unknown-method", "zero", "too-much"],
)
async def test_a_challenge_not_payable_is_refused_before_anything(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
    said: str,
    status: int,
    code: int,
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    await _refused(client, db, merchant, status, code, said=said)
    assert tally.makes == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://seller.example/x", "challenge": "Tally"}, "url"),
        ({"url": "/relative", "challenge": "Tally"}, "url"),
        ({"url": "https://seller.example/" + "x" * 2048, "challenge": "Tally"}, "url"),
        ({"url": SELLER, "challenge": "x" * (8 * 1024 + 1)}, "challenge"),
        ({"url": SELLER, "challenge": "a\nb"}, "challenge"),
        ({"url": SELLER, "challenge": ""}, "challenge"),
        ({"url": SELLER, "challenge": "Tally", "description": "d" * 501}, "description"),
        ({"url": SELLER, "challenge": "Tally", "amount_cents": 5}, "amount_cents"),
    ],
)
async def test_a_body_out_of_shape_is_refused(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
    body: dict[str, Any],
    field: str,
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    before = await written(db, merchant)
    refused = await client.post(
        "/payments", json=body, headers={**merchant.headers, "Idempotency-Key": "b-1"}
    )
    assert (refused.status_code, refused.json()["code"]) == (422, 3001), refused.text
    assert field in refused.text
    assert await written(db, merchant) == before


async def test_an_idempotency_key_is_required(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    sent = {"url": SELLER, "challenge": challenge()}
    refused = await client.post("/payments", json=sent, headers=merchant.headers)
    assert (refused.status_code, refused.json()["code"]) == (422, 4006)
    assert tally.makes == []


@pytest.mark.parametrize(
    ("policy", "url", "status", "code", "data"),
    [
        ({"scopes": ["topup:send", "topup:read"]}, SELLER, 403, 2301, {"scope": "payments:send"}),
        ({"scopes": PAYING, "max_per_send_cents": 24}, SELLER, 403, 2305, None),
        (
            {"scopes": PAYING, "allowed_payees": ["https://other.example"]},
            SELLER,
            403,
            2314,
            {
                "payee": "https://api.seller.example",
                "destination": "tally:acct_seller",
                "names": ["acct_seller"],
                "allowed_payees": ["https://other.example"],
            },
        ),
    ],
    ids=["scope", "max-per-send", "payee-not-allowed"],
)
async def test_the_keys_policy_refuses_before_anything_is_written(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
    policy: dict[str, Any],
    url: str,
    status: int,
    code: int,
    data: dict[str, Any] | None,
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    await set_policy(db, merchant.key_id, policy)
    body = await _refused(client, db, merchant, status, code, url=url)
    if data is not None:
        assert body["data"] == data
    assert tally.makes == []


@pytest.mark.parametrize(
    "allowed",
    [
        ["tally:acct_seller"],  # its destination
        ["acct_seller"],  # the name its protocol gives the destination
    ],
)
async def test_a_payee_named_by_its_destination_or_its_name_is_paid(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
    allowed: list[str],
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    await set_policy(db, merchant.key_id, {"scopes": PAYING, "allowed_payees": allowed})
    made = await pay(client, merchant, "a-1")
    assert made.status_code == 201, made.text


async def test_windows_count_payments_and_refuse_past_them(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    daily = [{"amount_cents": 60, "interval": "daily"}]
    await set_policy(db, merchant.key_id, {"scopes": PAYING, "limits": daily})
    for n in range(2):
        assert (await pay(client, merchant, f"w-{n}")).status_code == 201
    body = await _refused(client, db, merchant, 402, 2304)
    assert body["data"]["limit_source"] == "daily"
    assert (body["data"]["limit_cents"], body["data"]["remaining_cents"]) == (60, 10)


async def test_a_per_payee_limit_counts_each_payee_apart(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    per = {"amount_cents": 40, "interval": "daily"}
    await set_policy(db, merchant.key_id, {"scopes": PAYING, "per_payee_limit": per})
    assert (await pay(client, merchant, "pp-1")).status_code == 201
    body = await _refused(client, db, merchant, 402, 2315)
    assert (body["data"]["limit_source"], body["data"]["remaining_cents"]) == ("per_payee", 15)
    # Another destination is another payee: its own window.
    elsewhere = await pay(client, merchant, "pp-2", said=challenge(payee="acct_b"))
    assert elsewhere.status_code == 201, elsewhere.text


async def test_a_wallet_short_of_the_amount_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=24)
    body = await _refused(client, db, merchant, 402, 4001)
    assert body["data"]["shortfall_cents"] == 1
    assert tally.makes == []


async def test_a_frozen_environment_authorizes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    frozen = await client.post("/freeze", json={}, headers=merchant.headers)
    assert frozen.status_code == 200, frozen.text
    await _refused(client, db, merchant, 423, 2360)
    assert tally.makes == []


async def test_a_freeze_after_the_key_was_read_stops_the_debit(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    """The kill switch holds at the debit itself: a caller read before the freeze finds no
    wallet row to debit, and nothing is written."""
    merchant = await make_merchant(balance_cents=1_000)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    assert (await client.post("/freeze", json={}, headers=merchant.headers)).status_code == 200
    before = await written(db, merchant)
    body = PaymentCreate.model_validate({"url": SELLER, "challenge": challenge()})
    with pytest.raises(ApiError) as refused:
        await sellers.pay(
            db, Sealer(TEST_SECRET.encode()), settings, caller, body, idempotency_key="z-1"
        )
    assert int(refused.value.code) == 2360
    assert await written(db, merchant) == before
    assert tally.makes == []


async def test_payments_past_the_merchants_minute_are_refused_before_anything_is_made(
    settings: Settings, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    """Each payment asked for counts in its merchant's and environment's minute, whatever it
    comes to: past ``seller_payments_per_minute``, 429 ``2208`` and nothing made; another
    merchant is not held up."""
    merchant = await make_merchant(balance_cents=10_000)
    neighbour = await make_merchant(balance_cents=10_000)
    limited = settings.model_copy(update={"seller_payments_per_minute": 3})
    async with running_app(limited) as app, asgi_client(app) as client:
        replies = await asyncio.gather(*(pay(client, merchant, f"m-{n}") for n in range(6)))
        codes = sorted((r.status_code, r.json()["code"]) for r in replies)
        assert codes == [(201, 1170)] * 3 + [(429, 2208)] * 3, codes
        assert all(r.headers["RateLimit-Limit"] == "3" for r in replies if r.status_code == 429)
        assert len(tally.makes) == 3
        other = await pay(client, neighbour, "n-1")
        assert other.status_code == 201, other.json()
