"""An agent's MPP payment pays once, and is credited or given back, never lost: one challenge is
one PaymentIntent however many tokens race for it (across gateway processes); each 402 carries
a challenge of its own; a payment whose answer was lost, or that Stripe held past the bound, is
credited once by reconciliation, never expired unasked; a payment taken for no order is found
by its metadata and refunded, once; a frozen environment takes none. Live, through the Stripe
stand-in, on both stores."""

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from mpp import Challenge, Credential
from mpp.extensions.mcp.constants import META_CREDENTIAL
from sqlalchemy import func, select, update

from gateway.billing.orders import expire_due
from gateway.billing.settling import reconcile
from gateway.callers import authenticate
from gateway.freezes import service as freezes
from gateway.freezes.schemas import FreezeRequest
from gateway.protocols import base
from gateway.protocols import orders as agent_payments
from gateway.protocols.mpp import challenges as machine_payments
from gateway.protocols.mpp import strays as agent_strays
from gateway.protocols.mpp.mcp import credential_of
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, Topup, table_of
from gateway.values.clock import utcnow
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.billing import swept_of
from tests.fixtures.core import TEST_PEPPER, live_server, local_client, wait_until
from tests.fixtures.merchants import MakeMerchant, MerchantKey, merchant_balance
from tests.fixtures.policies import gateway_processes
from tests.fixtures.stripe import StripeStandIn

_O = table_of(FundingOrder)
_T = table_of(Topup)
RACERS = 24


def _body(amount: int) -> dict[str, Any]:
    return {
        "platform": "claude",
        "recipient_email": f"once-{uuid.uuid4().hex[:8]}@example.com",
        "amount_cents": amount,
    }


def _spt() -> str:
    return "spt_live_" + uuid.uuid4().hex


def _paying(challenge: Challenge, spt: str) -> str:
    return Credential(challenge=challenge.to_echo(), payload={"spt": spt}).to_authorization()


async def _challenge(http: httpx.AsyncClient, url: str, m: MerchantKey, body: Any) -> Challenge:
    refused = await http.post(f"{url}/topup/send", json=body, headers=m.headers)
    assert refused.status_code == 402, refused.text
    return Challenge.from_www_authenticate(refused.headers["www-authenticate"])


def _intents_of(stand_in: StripeStandIn, challenge_id: str) -> list[dict[str, Any]]:
    return [
        i for i in stand_in.intents.values() if i["metadata"].get("challenge_id") == challenge_id
    ]


def _intent_calls(stand_in: StripeStandIn) -> int:
    return sum(1 for call in stand_in.requests if call == ("POST", "/v1/payment_intents"))


async def _orders(db: Database, merchant_id: str) -> list[Any]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_O).where(_O.c.merchant_id == merchant_id, _O.c.kind == "agent")
        )
        return list(rows)


async def _topups(db: Database, merchant_id: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(select(func.count()).where(_T.c.merchant_id == merchant_id))
        return int(found.scalar_one())


@asynccontextmanager
async def _gateways(db: Database, settings: Settings, cwd: Path) -> AsyncIterator[list[str]]:
    """Two gateway processes on PostgreSQL; on SQLite, whose file one process serves, one live
    server. Their API roots."""
    async with AsyncExitStack() as stack:
        if db.is_sqlite:
            root = await stack.enter_async_context(live_server(settings))
            yield [f"{root}/api/public/v1"]
        else:
            yield await stack.enter_async_context(gateway_processes(settings, cwd, 2))


async def test_tokens_racing_for_one_challenge_across_processes_make_one_payment_intent(
    db: Database,
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    tmp_path: Path,
) -> None:
    """Each racer presents its own token for the one challenge: the first to claim it is the
    only one Stripe hears of; every other is refused 4505 before any call; one credit."""
    merchant = await make_merchant("live", balance_cents=0)
    body = _body(1300)
    async with (
        _gateways(db, stripe_stood_in_settings, tmp_path) as roots,
        local_client(timeout=60, limits=httpx.Limits(max_connections=RACERS)) as http,
    ):
        challenge = await _challenge(http, roots[0], merchant, body)
        calls_before = _intent_calls(stripe_stand_in)
        replies = await asyncio.gather(
            *(
                http.post(
                    f"{roots[i % len(roots)]}/topup/send",
                    json=body,
                    headers={
                        **merchant.headers,
                        "Payment-Authorization": _paying(challenge, _spt()),
                    },
                )
                for i in range(RACERS)
            )
        )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes == [1001] + [4505] * (RACERS - 1), codes
    assert {r.status_code for r in replies if r.json()["code"] == 4505} == {402}
    assert len(_intents_of(stripe_stand_in, challenge.id)) == 1
    assert _intent_calls(stripe_stand_in) - calls_before == 1
    [order] = await _orders(db, merchant.merchant_id)
    assert (order.status, order.credit_cents) == ("completed", 1300)
    assert await merchant_balance(db, merchant) == 0  # 1,300 in, the send's 1,300 out
    assert await _topups(db, merchant.merchant_id) == 1


async def test_two_refusals_for_the_same_shortfall_at_once_carry_two_challenges(
    live_url: str, make_merchant: MakeMerchant, settings: Settings
) -> None:
    now = utcnow()
    made = [
        machine_payments.challenge(
            settings, merchant_id="m_1", env="staging", amount_cents=1300, now=now
        )
        for _ in range(2)
    ]
    assert made[0].id != made[1].id
    merchant = await make_merchant("staging", balance_cents=0)
    body = _body(1300)
    async with local_client() as http:
        refused = await asyncio.gather(
            *(
                http.post(f"{live_url}/topup/send", json=body, headers=merchant.headers)
                for _ in "ab"
            )
        )
    first, second = (
        Challenge.from_www_authenticate(r.headers["www-authenticate"]) for r in refused
    )
    assert first.id != second.id


async def _past_expiry(db: Database, order_id: str) -> Any:
    """The clock past the order's expiry: a time every sweep is then given."""
    async with db.read() as conn:
        expires_at = (
            await conn.execute(select(_O.c.expires_at).where(_O.c.id == order_id))
        ).scalar_one()
    return expires_at + timedelta(seconds=1)


@pytest.fixture
def unhurried(stripe_stood_in_settings: Settings) -> Settings:
    """The stand-in's settings with reconciliation's own wait longer than a challenge's life,
    as by default: only an order's expiry makes it due before then."""
    return stripe_stood_in_settings.model_copy(update={"reconcile_after_seconds": 3600})


async def test_a_payment_intent_whose_answer_was_lost_is_credited_once_never_expired_unasked(
    unhurried: Settings,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("live", balance_cents=0)
    body = _body(4400)
    async with live_server(unhurried) as root, local_client(timeout=30) as http:
        url = f"{root}/api/public/v1"
        challenge = await _challenge(http, url, merchant, body)
        stripe_stand_in.lost_answers = 1  # made, its answer lost on the way back
        headers = {**merchant.headers, "Payment-Authorization": _paying(challenge, _spt())}
        lost = await http.post(f"{url}/topup/send", json=body, headers=headers)
        assert (lost.status_code, lost.json()["code"]) == (502, 4107), lost.text
        [intent] = _intents_of(stripe_stand_in, challenge.id)
        [order] = await _orders(db, merchant.merchant_id)
        assert order.status == "pending"
        # Past the challenge's expiry: the expiry sweep leaves it; reconciliation asks Stripe,
        # finds the PaymentIntent by its metadata, and credits it.
        later = await _past_expiry(db, order.id)
        await expire_due(db, now=later)
        [order] = await _orders(db, merchant.merchant_id)
        assert order.status == "pending"
        [swept] = swept_of(await reconcile.sweep(db, unhurried, now=later), order.id)
        assert swept.data["result"] == "credited", swept.data
        assert swept_of(await reconcile.sweep(db, unhurried, now=later), order.id) == []
        assert swept_of(await agent_strays.sweep(db, unhurried, now=later), order.id) == []
        [order] = await _orders(db, merchant.merchant_id)
        assert (order.status, order.provider_payment_id) == ("completed", intent["id"])
        assert await merchant_balance(db, merchant) == 4400
        # The same credential again: the challenge is spent, and nothing is charged.
        again = await http.post(f"{url}/topup/send", json=body, headers=headers)
        assert again.json()["code"] == 4501, again.text
    assert len(_intents_of(stripe_stand_in, challenge.id)) == 1
    assert await merchant_balance(db, merchant) == 4400


async def test_the_same_credential_after_a_lost_answer_is_the_same_payment_intent(
    live_api_url: str, stripe_stand_in: StripeStandIn, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live", balance_cents=0)
    body = _body(900)
    async with local_client(timeout=30) as http:
        challenge = await _challenge(http, live_api_url, merchant, body)
        spt = _spt()
        stripe_stand_in.lost_answers = 1
        headers = {**merchant.headers, "Payment-Authorization": _paying(challenge, spt)}
        lost = await http.post(f"{live_api_url}/topup/send", json=body, headers=headers)
        assert lost.json()["code"] == 4107, lost.text
        # A fresh token for the same challenge: refused, Stripe not called.
        calls = _intent_calls(stripe_stand_in)
        fresh = {**merchant.headers, "Payment-Authorization": _paying(challenge, _spt())}
        other = await http.post(f"{live_api_url}/topup/send", json=body, headers=fresh)
        assert other.json()["code"] == 4505, other.text
        assert _intent_calls(stripe_stand_in) == calls
        paid = await http.post(f"{live_api_url}/topup/send", json=body, headers=headers)
        assert paid.json()["code"] == 1001, paid.text
    assert len(_intents_of(stripe_stand_in, challenge.id)) == 1
    [order] = await _orders(db, merchant.merchant_id)
    assert order.status == "completed"
    assert await merchant_balance(db, merchant) == 0


@pytest.fixture
async def live_api_url(stripe_stood_in_settings: Settings) -> AsyncIterator[str]:
    async with live_server(stripe_stood_in_settings) as root:
        yield f"{root}/api/public/v1"


async def test_a_challenge_stripe_never_heard_of_is_expired_once_stripe_was_asked(
    unhurried: Settings,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """An order claimed whose charge never reached Stripe: pending past its expiry until the
    search could show a PaymentIntent; then, none found, expired, nothing credited."""
    merchant = await make_merchant("live", balance_cents=0)
    now = utcnow()
    challenge = machine_payments.challenge(
        unhurried.model_copy(update={"public_base_url": "http://gateway.test"}),
        merchant_id=merchant.merchant_id,
        env="live",
        amount_cents=700,
        now=now,
    )
    order_id = f"ord_{uuid.uuid4().hex[:20]}"
    async with db.transaction() as conn:
        await conn.execute(
            _O.insert().values(
                id=order_id,
                env="live",
                merchant_id=merchant.merchant_id,
                kind="agent",
                provider="mpp",
                channel="mpp",
                provider_session_id=challenge.id,
                provider_account="",
                status="pending",
                credits=7000,
                credit_cents=700,
                price_cents=700,
                discount_cents=0,
                amount_cents=700,
                currency="USD",
                expires_at=now + timedelta(seconds=1),
                created_at=now,
                updated_at=now,
            )
        )
    soon = now + timedelta(seconds=2)
    await expire_due(db, now=soon)
    assert swept_of(await reconcile.sweep(db, unhurried, now=soon), order_id) == []  # search lags
    [order] = await _orders(db, merchant.merchant_id)
    assert order.status == "pending"
    later = now + timedelta(minutes=5)
    [swept] = swept_of(await reconcile.sweep(db, unhurried, now=later), order_id)
    assert swept.data["result"] == "expired_order", swept.data
    [order] = await _orders(db, merchant.merchant_id)
    assert order.status == "expired"
    assert await merchant_balance(db, merchant) == 0


async def test_a_payment_intent_taken_for_no_credit_is_found_and_credited_or_refunded_once(
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    live_api_url: str,
) -> None:
    """Two challenges paid at Stripe whose orders were not credited here: one expired here (the
    payment found by its metadata credits it, late, once), one failed here (the payment is
    given back in full, once); the wallet moves by the first alone."""
    merchant = await make_merchant("live", balance_cents=0)
    ids = []
    async with local_client(timeout=30) as http:
        for amount in (600, 800):
            body = _body(amount)
            challenge = await _challenge(http, live_api_url, merchant, body)
            stripe_stand_in.lost_answers = 1
            headers = {**merchant.headers, "Payment-Authorization": _paying(challenge, _spt())}
            lost = await http.post(f"{live_api_url}/topup/send", json=body, headers=headers)
            assert lost.json()["code"] == 4107, lost.text
            [intent] = _intents_of(stripe_stand_in, challenge.id)
            ids.append(intent["id"])
    expired, failed = sorted(await _orders(db, merchant.merchant_id), key=lambda o: o.amount_cents)
    async with db.transaction() as conn:
        for order, status in ((expired, "expired"), (failed, "failed")):
            await conn.execute(update(_O).where(_O.c.id == order.id).values(status=status))
    refunds_before = len(stripe_stand_in.refunds)
    mine = (expired.id, failed.id)
    now = utcnow() + timedelta(seconds=1)
    found = swept_of(await agent_strays.sweep(db, stripe_stood_in_settings, now=now), *mine)
    assert sorted(o.data["result"] for o in found) == ["credited", "refunded"], found
    again = swept_of(await agent_strays.sweep(db, stripe_stood_in_settings, now=now), *mine)
    assert [o.data["result"] for o in again] == ["refunded"]  # the same refund, asked again
    refunds = list(stripe_stand_in.refunds.values())[refunds_before:]
    assert [(r["payment_intent"], r["amount"]) for r in refunds] == [(ids[1], 800)]
    assert stripe_stand_in.intents[ids[1]]["amount_refunded"] == 800
    statuses = {o.id: o.status for o in await _orders(db, merchant.merchant_id)}
    assert statuses == {expired.id: "completed", failed.id: "failed"}
    assert await merchant_balance(db, merchant) == 600


async def test_a_stripe_that_hangs_holds_the_paid_retry_no_longer_than_the_bound(
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """Stripe holds the charge: the retry answers 4108 within the payment bound (1 s here,
    where the Stripe client's own is 20 s), its order left pending; Stripe makes the payment
    when it lets go, and reconciliation credits it once."""
    bounded = stripe_stood_in_settings.model_copy(update={"payment_timeout_seconds": 1.0})
    merchant = await make_merchant("live", balance_cents=0)
    body = _body(500)
    held = asyncio.Event()
    try:
        async with live_server(bounded) as root, local_client(timeout=30) as http:
            url = f"{root}/api/public/v1"
            challenge = await _challenge(http, url, merchant, body)
            stripe_stand_in.held = held
            headers = {**merchant.headers, "Payment-Authorization": _paying(challenge, _spt())}
            began = time.monotonic()
            reply = await http.post(f"{url}/topup/send", json=body, headers=headers)
            took = time.monotonic() - began
            assert (reply.status_code, reply.json()["code"]) == (504, 4108), reply.text
            assert took < 10, took
            [order] = await _orders(db, merchant.merchant_id)
            assert order.status == "pending"
            held.set()  # Stripe answers at last, to no one: the payment is made

            async def made() -> bool:
                return len(_intents_of(stripe_stand_in, challenge.id)) == 1

            await wait_until(made)
    finally:
        stripe_stand_in.held = None
        held.set()
    later = await _past_expiry(db, order.id)
    await expire_due(db, now=later)
    [swept] = swept_of(await reconcile.sweep(db, bounded, now=later), order.id)
    assert swept.data["result"] == "credited", swept.data
    assert await merchant_balance(db, merchant) == 500


async def test_a_frozen_environment_takes_no_agent_payment(
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """A key that authenticated before the freeze: its paid retry is refused 2360 before Stripe
    is asked, and no order is written."""
    settings = stripe_stood_in_settings
    merchant = await make_merchant("live", balance_cents=0)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    who = freezes.Freezer(merchant.merchant_id, "live", "test")
    await freezes.freeze(db, sealer, who, FreezeRequest())
    presented = base.Presented(
        "mpp", f"ch_{uuid.uuid4().hex}", 500, utcnow() + timedelta(minutes=5), resumable=True
    )
    calls = _intent_calls(stripe_stand_in)

    async def take(ctx: Any, order_id: str) -> Any:
        raise AssertionError("the provider was called")

    with pytest.raises(ApiError) as refused:
        await agent_payments.pay(db, settings, caller, presented, take, utcnow())
    assert refused.value.code == Code.ENVIRONMENT_FROZEN
    assert _intent_calls(stripe_stand_in) == calls
    assert await _orders(db, merchant.merchant_id) == []


def _nested(depth: int) -> Any:
    deep: Any = []
    for _ in range(depth):
        deep = [deep]
    return deep


NESTED = base64.b64encode(b"[" * 5000 + b"]" * 5000).decode()
NESTED_MPP = "Payment " + base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode().rstrip("=")


@pytest.fixture
async def x402_on_url(settings: Settings) -> AsyncIterator[str]:
    """Staging with x402 on: nothing below reaches its facilitator, refused before."""
    on = settings.model_copy(
        update={
            "x402_staging_pay_to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "x402_staging_facilitator_url": "http://127.0.0.1:9",
        }
    )
    async with live_server(on) as root:
        yield f"{root}/api/public/v1"


async def test_malformed_credentials_answer_the_envelope_and_write_nothing(
    x402_on_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    body = _body(500)
    amount = base64.b64encode(
        b'{"x402Version":2,"accepted":{"scheme":"exact","network":"eip155:84532",'
        b'"amount":"x1","asset":"0x0","payTo":"0x0","maxTimeoutSeconds":60,"extra":{}},'
        b'"payload":{}}'
    ).decode()
    presented = [
        ("PAYMENT-SIGNATURE", NESTED),
        ("PAYMENT-SIGNATURE", "%%%not base64%%%"),
        ("PAYMENT-SIGNATURE", base64.b64encode(b'{"x402Version":2}').decode()),
        ("PAYMENT-SIGNATURE", base64.b64encode(b"\xff\xfe").decode()),
        ("PAYMENT-SIGNATURE", amount),
        ("Payment-Authorization", NESTED_MPP),
        ("Payment-Authorization", "Payment " + base64.urlsafe_b64encode(b'{"a":').decode()),
        ("Payment-Authorization", "Payment " + base64.urlsafe_b64encode(b"[1,2]").decode()),
        ("Payment-Authorization", "Payment \u00e9\u00e9"),
    ]
    async with local_client(timeout=30) as http:
        for name, value in presented:
            headers = {**merchant.headers, name: value}
            try:
                reply = await http.post(f"{x402_on_url}/topup/send", json=body, headers=headers)
            except UnicodeEncodeError:
                continue  # not sendable as a header at all
            assert reply.status_code in (400, 402), (name, value[:40], reply.text)
            assert 4500 <= reply.json()["code"] <= 4519, (name, value[:40], reply.text)
    assert await _orders(db, merchant.merchant_id) == []
    assert await merchant_balance(db, merchant) == 0


def test_an_mcp_credential_nested_past_any_parser_is_refused_as_malformed(
    settings: Settings,
) -> None:
    """MPP's MCP binding: the credential in ``_meta`` is turned into the HTTP one, whose checks
    it then meets; nested past any parser's depth, either step refuses it 4500, never raises."""
    challenge = {
        "id": "x",
        "realm": "gateway.test",
        "method": "stripe",
        "intent": "charge",
        "request": {"amount": _nested(5000)},
        "expires": "2030-01-01T00:00:00Z",
    }
    for meta in (
        {META_CREDENTIAL: {"challenge": challenge, "payload": {"spt": "spt_x"}}},
        {META_CREDENTIAL: {"challenge": _nested(5000), "payload": {"spt": "spt_x"}}},
        {META_CREDENTIAL: _nested(5000)},
    ):
        header = credential_of(meta)
        assert header is not None
        with pytest.raises(ApiError) as refused:
            machine_payments.verify(settings, header, merchant_id="m", env="staging", now=utcnow())
        assert refused.value.code == Code.PAYMENT_CREDENTIAL_MALFORMED
