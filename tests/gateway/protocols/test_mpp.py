"""Agents paying their own way with MPP: a send refused for funds carries a Stripe charge
challenge; the same send retried with a credential is paid once, credited as an order of the
``mpp`` channel, and then delivered. Against the real app on a loopback socket, on both stores,
with ``pympp``'s own client (only its ``create_token`` callback is ours: it calls the staging
sandbox's Shared Payment Token route)."""

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from mpp import Challenge, Credential, Receipt
from mpp.client.transport import PaymentTransport
from mpp.methods.stripe import client as stripe_client
from mpp.methods.stripe.client import OnChallengeParameters
from sqlalchemy import func, select

from gateway.protocols.mpp import challenges as machine_payments
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, Topup, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, local_client, running_app
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import set_policy
from tests.fixtures.stripe import StripeStandIn

_O = table_of(FundingOrder)
_T = table_of(Topup)
PROBLEMS = "https://paymentauth.org/problems/"


class _Counted(httpx.AsyncHTTPTransport):
    """The network under pympp's transport: every request it sends, and the answer."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.seen.append((request.url.path, response.status_code))
        return response


def _send_body(amount: int = 1234) -> dict[str, Any]:
    return {
        "platform": "claude",
        "recipient_email": f"agent-{uuid.uuid4().hex[:8]}@example.com",
        "amount_cents": amount,
    }


def _token_maker(live_url: str, merchant: MerchantKey) -> Callable[..., Awaitable[str]]:
    async def create_token(params: OnChallengeParameters) -> str:
        async with local_client() as http:
            minted = await http.post(
                f"{live_url}/billing/sandbox/shared-payment-tokens",
                json={"amount_cents": int(params.amount), "currency": params.currency},
                headers=merchant.headers,
            )
        assert minted.status_code == 201, minted.text
        token: str = minted.json()["data"]["id"]
        return token

    return create_token


async def _counts(db: Database, merchant_id: str) -> tuple[int, int, int]:
    """Completed agent orders, their credited cents, and top-ups: what moved."""
    async with db.read() as conn:
        paid = (
            await conn.execute(
                select(func.count(), func.coalesce(func.sum(_O.c.credit_cents), 0)).where(
                    _O.c.merchant_id == merchant_id,
                    _O.c.kind == "agent",
                    _O.c.status == "completed",
                )
            )
        ).one()
        sent = (
            await conn.execute(select(func.count()).where(_T.c.merchant_id == merchant_id))
        ).scalar_one()
    return int(paid[0]), int(paid[1]), int(sent)


async def _balance(http: httpx.AsyncClient, live_url: str, merchant: MerchantKey) -> int:
    reply = await http.get(f"{live_url}/balance", headers=merchant.headers)
    return int(reply.json()["data"]["balance_cents"])


async def _refusal(
    http: httpx.AsyncClient, live_url: str, merchant: MerchantKey, body: dict[str, Any], **h: str
) -> httpx.Response:
    reply = await http.post(f"{live_url}/topup/send", json=body, headers={**merchant.headers, **h})
    assert reply.status_code == 402, reply.text
    return reply


def _challenge(reply: httpx.Response) -> Challenge:
    return Challenge.from_www_authenticate(reply.headers["www-authenticate"])


async def _credential(live_url: str, merchant: MerchantKey, challenge: Challenge) -> str:
    """A credential as pympp's Stripe method makes it, its token minted by the sandbox."""
    method = stripe_client.StripeMethod(
        create_token=_token_maker(live_url, merchant), payment_method="pm_card_visa"
    )
    return (await method.create_credential(challenge)).to_authorization()


@pytest.mark.both_stores
async def test_pympps_own_client_pays_the_402_and_the_send_is_delivered_on_its_one_retry(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=100)
    inner = _Counted()
    method = stripe_client.charge(
        create_token=_token_maker(live_url, merchant), payment_method="pm_card_visa"
    )
    transport = PaymentTransport(methods=[method], inner=inner)
    async with transport, httpx.AsyncClient(transport=transport) as http:
        sent = _send_body(1234)
        reply = await http.post(
            f"{live_url}/topup/send",
            json=sent,
            headers={**merchant.headers, "Idempotency-Key": "agent-1"},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["code"] == 1001
        payment = reply.json()["data"]["payment"]
        receipt = Receipt.from_payment_receipt(reply.headers["payment-receipt"])
        assert (receipt.status, receipt.method) == ("success", "stripe")
        assert receipt.reference == payment["reference"]
        # The shortfall (1,134) rounded up to the step, at least the smallest top-up.
        assert payment["amount_cents"] == 1200
        assert await _balance(http, live_url, merchant) == 100 + 1200 - 1234
    # The send refused, then its one retry paid and delivered.
    sends = [status for path, status in inner.seen if path.endswith("/topup/send")]
    assert sends == [402, 200]
    async with local_client() as http:
        # The key answers what was done, not the 402 it first kept.
        again = await http.post(
            f"{live_url}/topup/send",
            json=sent,
            headers={**merchant.headers, "Idempotency-Key": "agent-1"},
        )
        assert (again.json()["code"], again.headers["idempotent-replayed"]) == (1001, "true")
    assert await _counts(db, merchant.merchant_id) == (1, 1200, 1)
    async with db.read() as conn:
        order = (
            await conn.execute(select(_O).where(_O.c.merchant_id == merchant.merchant_id))
        ).one()
    assert (order.provider, order.channel, order.kind) == ("mpp", "mpp", "agent")
    assert order.provider_payment_id == payment["reference"]


@pytest.mark.both_stores
async def test_the_402_names_its_challenge_and_a_problem_body_when_asked(
    live_url: str, make_merchant: MakeMerchant, settings: Settings
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    async with local_client() as http:
        plain = await _refusal(http, live_url, merchant, _send_body(777))
        assert plain.json()["code"] == 4001  # the product's envelope, the challenge beside
        challenge = _challenge(plain)
        assert (challenge.method, challenge.intent) == ("stripe", "charge")
        assert challenge.header == "Payment-Authorization"
        assert challenge.request["amount"] == "800" and challenge.request["currency"] == "usd"
        assert challenge.verify(machine_payments.challenge_key(settings), challenge.realm)
        assert plain.headers["cache-control"] == "no-store"
        problem = await _refusal(
            http, live_url, merchant, _send_body(777), Accept="application/problem+json"
        )
        assert problem.headers["content-type"].startswith("application/problem+json")
        body = problem.json()
        assert body["type"] == PROBLEMS + "payment-required"
        assert body["challengeId"] == _challenge(problem).id
        assert body["data"]["shortfall_cents"] == 777


@pytest.mark.both_stores
async def test_twenty_concurrent_retries_with_one_credential_pay_once_and_send_once(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    body = _send_body(600)
    async with local_client(timeout=60) as http:
        refused = await _refusal(http, live_url, merchant, body, **{"Idempotency-Key": "race"})
        credential = await _credential(live_url, merchant, _challenge(refused))
        headers = {
            **merchant.headers,
            "Idempotency-Key": "race",
            "Payment-Authorization": credential,
        }
        replies = await asyncio.gather(
            *(http.post(f"{live_url}/topup/send", json=body, headers=headers) for _ in range(20))
        )
        codes = sorted(r.json()["code"] for r in replies)
        assert 1001 in codes and codes.count(1001) + codes.count(4501) == 20, codes
        assert all(r.status_code != 500 for r in replies)
        assert await _counts(db, merchant.merchant_id) == (1, 600, 1)
        assert await _balance(http, live_url, merchant) == 0
        # Sent again once settled, the same credential replays the send, charging nothing.
        replay = await http.post(f"{live_url}/topup/send", json=body, headers=headers)
        assert replay.json()["code"] == 1001
        assert replay.headers["idempotent-replayed"] == "true"
    assert await _counts(db, merchant.merchant_id) == (1, 600, 1)


def _altered(credential: str) -> str:
    """The credential with its challenge's amount lowered, the id left as issued."""
    parsed = Credential.from_authorization(credential)
    raw = json.loads(base64.urlsafe_b64decode(credential.split(" ", 1)[1] + "=="))
    request = json.loads(base64.urlsafe_b64decode(parsed.challenge.request + "=="))
    request["amount"] = "1"
    raw["challenge"]["request"] = (
        base64.urlsafe_b64encode(json.dumps(request).encode()).decode().rstrip("=")
    )
    return "Payment " + base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


@pytest.mark.both_stores
async def test_replayed_expired_altered_and_other_merchant_challenges_are_refused_and_nothing_moves(
    live_url: str, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    other = await make_merchant("staging", balance_cents=0)
    body = _send_body(500)
    problem = {"Accept": "application/problem+json"}
    async with local_client() as http:
        first = await _refusal(http, live_url, merchant, body)
        credential = await _credential(live_url, merchant, _challenge(first))

        async def paid_with(key: MerchantKey, cred: str) -> httpx.Response:
            headers = {**key.headers, "Payment-Authorization": cred, **problem}
            return await http.post(f"{live_url}/topup/send", json=body, headers=headers)

        # Another merchant's key presenting it: not its challenge.
        stolen = await paid_with(other, credential)
        assert stolen.status_code == 402 and stolen.json()["type"] == PROBLEMS + "invalid-challenge"
        assert "www-authenticate" in stolen.headers
        altered = await paid_with(merchant, _altered(credential))
        assert altered.json()["type"] == PROBLEMS + "invalid-challenge"
        garbled = await paid_with(merchant, "Payment not-base64!")
        assert garbled.json()["type"] == PROBLEMS + "malformed-credential"
        served = settings.model_copy(
            update={"public_base_url": f"http://{_challenge(first).realm}"}
        )
        expired = machine_payments.challenge(
            served,
            merchant_id=merchant.merchant_id,
            env="staging",
            amount_cents=500,
            now=utcnow() - timedelta(hours=1),
        )
        late = await paid_with(merchant, await _credential_unchecked(live_url, merchant, expired))
        assert late.json()["type"] == PROBLEMS + "payment-expired"
        assert await _counts(db, merchant.merchant_id) == (0, 0, 0)
        assert await _counts(db, other.merchant_id) == (0, 0, 0)

        paid = await paid_with(merchant, credential)
        assert paid.status_code == 200 and paid.json()["code"] == 1001
        # Replayed without an idempotency key: the challenge is spent.
        replayed = await paid_with(merchant, credential)
        assert replayed.json()["type"] == PROBLEMS + "invalid-challenge"
        # The envelope, for a client that asks for JSON.
        enveloped = await http.post(
            f"{live_url}/topup/send",
            json=body,
            headers={**merchant.headers, "Payment-Authorization": credential},
        )
        assert (enveloped.status_code, enveloped.json()["code"]) == (402, 4501)
    assert await _counts(db, merchant.merchant_id) == (1, 500, 1)


async def _credential_unchecked(live_url: str, merchant: MerchantKey, challenge: Challenge) -> str:
    """A credential for a challenge the client would refuse to pay (expired): made by hand,
    as a client that ignores ``expires`` would send it."""
    token = await _token_maker(live_url, merchant)(
        OnChallengeParameters(
            amount=challenge.request["amount"],
            challenge=challenge,
            currency="usd",
            external_id=None,
            expires_at=0,
            metadata=None,
            network_id="n",
            payment_method_types=["card"],
            payment_method="pm_card_visa",
        )
    )
    return Credential(challenge=challenge.to_echo(), payload={"spt": token}).to_authorization()


@pytest.mark.both_stores
async def test_a_token_short_of_the_challenge_is_refused_and_the_order_fails(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    body = _send_body(900)
    async with local_client() as http:
        challenge = _challenge(await _refusal(http, live_url, merchant, body))
        minted = await http.post(
            f"{live_url}/billing/sandbox/shared-payment-tokens",
            json={"amount_cents": 100, "currency": "usd"},
            headers=merchant.headers,
        )
        short = Credential(
            challenge=challenge.to_echo(), payload={"spt": minted.json()["data"]["id"]}
        ).to_authorization()
        reply = await http.post(
            f"{live_url}/topup/send",
            json=body,
            headers={
                **merchant.headers,
                "Payment-Authorization": short,
                "Accept": "application/problem+json",
            },
        )
        assert reply.json()["type"] == PROBLEMS + "verification-failed"
        assert "www-authenticate" in reply.headers
    assert await _counts(db, merchant.merchant_id) == (0, 0, 0)


@pytest.mark.both_stores
async def test_a_send_refused_after_the_payment_leaves_the_money_in_the_wallet_and_says_so(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    # Staging's magic recipient: the send fails (and refunds) once it is made.
    body = _send_body(500) | {"recipient_email": "agent+fail@example.com"}
    async with local_client() as http:
        credential = await _credential(
            live_url, merchant, _challenge(await _refusal(http, live_url, merchant, body))
        )
        reply = await http.post(
            f"{live_url}/topup/send",
            json=body,
            headers={**merchant.headers, "Payment-Authorization": credential},
        )
        assert reply.json()["code"] == 4004, reply.text
        assert reply.json()["data"]["payment"]["credited"] is True
        assert "stays there" in reply.json()["message"]
        assert "payment-receipt" not in reply.headers
        assert await _balance(http, live_url, merchant) == 500
    assert (await _counts(db, merchant.merchant_id))[:2] == (1, 500)


@pytest.fixture
async def live_api(stripe_stood_in_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(stripe_stood_in_settings) as app, asgi_client(app) as http:
        yield http


async def test_live_charges_go_through_stripe_as_a_payment_intent_with_the_token(
    live_api: httpx.AsyncClient, make_merchant: MakeMerchant, stripe_stand_in: StripeStandIn
) -> None:
    merchant = await make_merchant("live", balance_cents=0)
    body = _send_body(2050)
    refused = await live_api.post("/topup/send", json=body, headers=merchant.headers)
    assert refused.status_code == 402
    challenge = _challenge(refused)
    assert challenge.request["amount"] == "2100"
    assert challenge.request["methodDetails"]["networkId"] == "profile_aitopup"
    spt = "spt_live_" + uuid.uuid4().hex
    credential = Credential(challenge=challenge.to_echo(), payload={"spt": spt})
    reply = await live_api.post(
        "/topup/send",
        json=body,
        headers={**merchant.headers, "Payment-Authorization": credential.to_authorization()},
    )
    assert reply.status_code == 200, reply.text
    [intent] = [
        i for i in stripe_stand_in.intents.values() if i.get("shared_payment_granted_token") == spt
    ]
    assert (intent["amount"], intent["currency"]) == (2100, "usd")
    assert intent["metadata"]["challenge_id"] == challenge.id
    assert stripe_stand_in.idempotent[f"mpp:{challenge.id}"]["id"] == intent["id"]
    assert Receipt.from_payment_receipt(reply.headers["payment-receipt"]).reference == intent["id"]

    # A token Stripe declines: refused, the order failed, nothing credited.
    body = _send_body(800)
    challenge = _challenge(await live_api.post("/topup/send", json=body, headers=merchant.headers))
    declined = "spt_live_" + uuid.uuid4().hex
    stripe_stand_in.declined_tokens.add(declined)
    credential = Credential(challenge=challenge.to_echo(), payload={"spt": declined})
    reply = await live_api.post(
        "/topup/send",
        json=body,
        headers={
            **merchant.headers,
            "Payment-Authorization": credential.to_authorization(),
            "Accept": "application/problem+json",
        },
    )
    assert reply.json()["type"] == PROBLEMS + "verification-failed"
    balance = await live_api.get("/balance", headers=merchant.headers)
    assert balance.json()["data"]["balance_cents"] == 2100 - 2050


@pytest.mark.both_stores
async def test_a_payment_never_widens_what_a_key_may_send(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging", balance_cents=0)
    capped = await make_merchant("staging", merchant_id=merchant.merchant_id)
    await set_policy(db, capped.key_id, {"max_per_send_cents": 1000})
    body = _send_body(1500)
    async with local_client() as http:
        # The capped key is refused by its policy, never for funds: no offer to pay.
        over = await http.post(f"{live_url}/topup/send", json=body, headers=capped.headers)
        assert over.status_code != 402 and "www-authenticate" not in over.headers
        # A credential for the merchant's own challenge, presented with the capped key: the
        # policy refuses first, and nothing is charged.
        challenge = _challenge(await _refusal(http, live_url, merchant, body))
        credential = await _credential(live_url, merchant, challenge)
        tried = await http.post(
            f"{live_url}/topup/send",
            json=body,
            headers={**capped.headers, "Payment-Authorization": credential},
        )
        assert tried.json()["code"] == over.json()["code"]
        assert await _balance(http, live_url, merchant) == 0
        # The credential is still good for the key that may send it.
        paid = await http.post(
            f"{live_url}/topup/send",
            json=body,
            headers={**merchant.headers, "Payment-Authorization": credential},
        )
        assert paid.json()["code"] == 1001
    assert await _counts(db, merchant.merchant_id) == (1, 1500, 1)
