"""The paying fetch, on each store: the gateway itself requests a seller on 127.0.0.1, pays the
402 it meets there (MPP, x402, a made-up third protocol) from the wallet under the key's leash,
and answers the seller's response to its paid retry; a resource that asks nothing answers
``payment: null``. The origin it reached is proven: a key allowed only that origin pays there,
where the same challenge posted to ``POST /payments`` is held. Redirects are answered, never
followed; a private address is refused unless staging allows it; an answer past the bound is
cut and says so."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from jsonschema import validate  # type: ignore[import-untyped]

from gateway.sellers.fetch import proves
from gateway.store.engine import Database
from gateway.values.code_names import Code
from gateway.values.settings import Settings
from tests.fixtures.core import live_server
from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.merchants import MakeMerchant, MerchantKey, merchant_balance
from tests.fixtures.payers import paid_orders, send_body
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import pay, payment_rows, written
from tests.fixtures.sellers import BIG, TallySeller, X402Seller, buyer
from tests.fixtures.tally_payer import TallyPayer, challenge

FETCH = "/payments/fetch"
SCOPE_MISSING = int(Code.KEY_SCOPE_MISSING)


async def _fetch(
    http: httpx.AsyncClient, merchant: MerchantKey, key: str, **body: Any
) -> httpx.Response:
    headers = {**merchant.headers, "Idempotency-Key": key}
    return await http.post(FETCH, json=body, headers=headers)


def _sent(reply: httpx.Response) -> dict[str, Any]:
    """The seller's response a fetch answered, its JSON body read."""
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["data"]["response"]
    return {**response, "json": json.loads(response["body"])}


@pytest.fixture
async def agent(make_merchant: MakeMerchant) -> MerchantKey:
    """The agent's key: a staging merchant's, $50 in its wallet."""
    return await make_merchant("staging", balance_cents=5_000)


def _sending(seller: MerchantKey, amount: int) -> dict[str, Any]:
    """A fetch of the seller's own send, which its empty wallet refuses with a 402."""
    headers = {**seller.headers, "Content-Type": "application/json"}
    return {"method": "POST", "headers": headers, "body": json.dumps(send_body(amount))}


@pytest.mark.both_stores
async def test_an_mpp_sellers_402_is_paid_through_a_fetch_and_its_answer_returned(
    live_url: str, settings: Settings, db: Database, make_merchant: MakeMerchant, agent: MerchantKey
) -> None:
    seller = await make_merchant("staging", balance_cents=0)
    # The buyer knows the served gateway's challenges as staging's own.
    root = live_url.removesuffix("/api/public/v1")
    async with buyer(settings, public_base_url=root) as http:
        asked = {"url": f"{live_url}/topup/send", **_sending(seller, 1150)}
        reply = await _fetch(http, agent, "mpp-1", **asked)
        answered = _sent(reply)
        assert (answered["status"], answered["json"]["code"]) == (200, 1001)
        payment = reply.json()["data"]["payment"]
        assert (payment["protocol"], payment["amount_cents"]) == ("mpp", 1200)
        assert payment["status"] == "authorized" and "value" not in payment
        assert reply.json()["transaction_id"] == payment["id"]
        # The same fetch again sends the same credential: the seller has taken it, and
        # nothing is paid twice.
        again = await _fetch(http, agent, "mpp-1", **asked)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["payment"]["id"] == payment["id"]
        assert again.json()["data"]["response"]["status"] == 402
    assert await paid_orders(db, seller.merchant_id, "mpp") == (1, 1200, 1)
    assert await merchant_balance(db, agent) == 5_000 - 1200
    assert len(await payment_rows(db, agent.merchant_id)) == 1


@pytest.mark.both_stores
async def test_an_x402_sellers_402_is_paid_through_a_fetch_and_its_answer_returned(
    x402_seller: X402Seller, db: Database, make_merchant: MakeMerchant, agent: MerchantKey
) -> None:
    seller = await make_merchant("staging", balance_cents=0)
    async with buyer(x402_seller.settings) as http:
        url = f"{x402_seller.url}/topup/send"
        reply = await _fetch(http, agent, "x402-1", url=url, **_sending(seller, 540))
        answered = _sent(reply)
        assert (answered["status"], answered["json"]["code"]) == (200, 1001)
        payment = reply.json()["data"]["payment"]
        assert (payment["protocol"], payment["amount_cents"]) == ("x402", 600)
    assert x402_seller.facilitator.asked.count("settle") == 1
    assert await paid_orders(db, seller.merchant_id, "x402") == (1, 600, 1)
    assert await merchant_balance(db, agent) == 5_000 - 600


@pytest.mark.both_stores
async def test_a_resource_that_asks_nothing_answers_with_no_payment(
    settings: Settings,
    db: Database,
    agent: MerchantKey,
    tally_seller: TallySeller,
    tally: TallyPayer,
) -> None:
    async with buyer(settings) as http:
        before = await written(db, agent)
        reply = await _fetch(
            http,
            agent,
            "free-1",
            url=f"{tally_seller.url}/free",
            method="POST",
            headers={"X-Agent": "mine"},
            body="hello",
        )
        answered = _sent(reply)
    assert reply.json()["data"]["payment"] is None
    assert answered["json"] == {"free": True, "said": "hello"}
    assert answered["encoding"] == "utf-8" and not answered["truncated"]
    assert await written(db, agent) == before
    (path, sent), *_ = tally_seller.seen
    assert (path, sent["x-agent"], sent["accept-encoding"]) == ("/free", "mine", "identity")
    assert "authorization" not in sent  # the agent's key to the gateway stays with it


@pytest.mark.both_stores
async def test_a_key_allowed_only_the_origin_pays_what_it_met_there_but_not_what_it_is_told(
    settings: Settings,
    db: Database,
    agent: MerchantKey,
    tally_seller: TallySeller,
    tally: TallyPayer,
) -> None:
    """The made-up third protocol through a fetch: the origin reached is proven."""
    policy = {"scopes": ["payments:send"], "allowed_payees": [tally_seller.url]}
    await set_policy(db, agent.key_id, policy)
    url = f"{tally_seller.url}/report"
    async with buyer(settings) as http:
        reply = await _fetch(http, agent, "t-1", url=url)
        answered = _sent(reply)
        payment = reply.json()["data"]["payment"]
        assert (payment["protocol"], payment["destination"]) == ("tally", "tally:acct_seller")
        assert answered["json"]["paid_with"] == tally.made[payment["id"]].value
        # The same challenge, named under the same url by the agent's word: held.
        told = await pay(http, agent, "t-2", url=url, said=challenge())
        assert (told.status_code, told.json()["code"]) == (202, 1173), told.text
    assert len(tally.makes) == 1
    assert await merchant_balance(db, agent) == 5_000 - 25 - 25


@pytest.mark.both_stores
async def test_a_payment_held_for_approval_is_fetched_again_once_approved(
    settings: Settings,
    db: Database,
    make_merchant: MakeMerchant,
    agent: MerchantKey,
    tally_seller: TallySeller,
    tally: TallyPayer,
) -> None:
    approver = await make_merchant(merchant_id=agent.merchant_id)
    policy = {"scopes": ["payments:send"], "approval_above_cents": 10}
    await set_policy(db, agent.key_id, policy)
    url = f"{tally_seller.url}/report"
    async with buyer(settings) as http:
        held = await _fetch(http, agent, "h-1", url=url)
        assert (held.status_code, held.json()["code"]) == (202, 1173), held.text
        payment_id = held.json()["data"]["id"]
        assert tally.makes == []
        approved = await http.post(f"/payments/{payment_id}/approve", headers=approver.headers)
        assert approved.status_code == 200, approved.text
        reply = await _fetch(http, agent, "h-1", url=url)
        answered = _sent(reply)
    assert reply.json()["data"]["payment"]["id"] == payment_id
    assert answered["json"]["paid_with"] == tally.made[payment_id].value
    assert len(tally.makes) == 1 and len(await payment_rows(db, agent.merchant_id)) == 1


async def test_a_redirect_is_answered_never_followed(
    settings: Settings, agent: MerchantKey, tally_seller: TallySeller, tally: TallyPayer
) -> None:
    async with buyer(settings) as http:
        reply = await _fetch(http, agent, "r-1", url=f"{tally_seller.url}/moved")
    answered = reply.json()["data"]
    assert reply.status_code == 200, reply.text
    assert answered["payment"] is None
    assert (answered["response"]["status"], answered["response"]["headers"]["location"]) == (
        302,
        "/report",
    )
    assert [path for path, _ in tally_seller.seen] == ["/moved"]


async def test_a_private_address_is_refused_unless_staging_allows_it(
    client: httpx.AsyncClient,
    db: Database,
    agent: MerchantKey,
    tally_seller: TallySeller,
    tally: TallyPayer,
) -> None:
    before = await written(db, agent)
    reply = await _fetch(client, agent, "p-1", url=f"{tally_seller.url}/report")
    assert (reply.status_code, reply.json()["code"]) == (422, 4647), reply.text
    assert tally_seller.seen == [] and await written(db, agent) == before


async def test_an_answer_past_the_bound_is_cut_and_says_so(
    settings: Settings, agent: MerchantKey, tally_seller: TallySeller
) -> None:
    async with buyer(settings) as http:
        reply = await _fetch(http, agent, "b-1", url=f"{tally_seller.url}/big")
    response = reply.json()["data"]["response"]
    assert reply.status_code == 200, reply.text
    assert response["truncated"] is True
    assert len(response["body"]) == 1 << 20 < BIG


@pytest.mark.parametrize(
    "changed",
    [
        {"headers": {"Host": "elsewhere.example"}},
        {"headers": {"Transfer-Encoding": "chunked"}},
        {"headers": {"X-Bad": "one\ntwo"}},
        {"headers": {f"X-{n}": "v" for n in range(33)}},
        {"body": "x" * (32 * 1024 + 1)},
        {"method": "TRACE"},
        {"url": "ftp://seller.example/x"},
    ],
)
async def test_a_request_out_of_bounds_is_refused_before_anything_is_sent(
    client: httpx.AsyncClient,
    db: Database,
    agent: MerchantKey,
    tally_seller: TallySeller,
    changed: dict[str, Any],
) -> None:
    before = await written(db, agent)
    body = {"url": f"{tally_seller.url}/free", **changed}
    reply = await _fetch(client, agent, "v-1", **body)
    assert (reply.status_code, reply.json()["code"]) == (422, 3001), reply.text
    assert tally_seller.seen == [] and await written(db, agent) == before


async def test_a_fetch_needs_an_idempotency_key_and_the_scope(
    client: httpx.AsyncClient, db: Database, agent: MerchantKey
) -> None:
    bare = await client.post(FETCH, json={"url": "https://seller.example/"}, headers=agent.headers)
    assert (bare.status_code, bare.json()["code"]) == (422, 4006), bare.text
    await set_policy(db, agent.key_id, {"scopes": ["topup:send"]})
    scoped = await _fetch(client, agent, "s-1", url="https://seller.example/")
    assert (scoped.status_code, scoped.json()["code"]) == (403, SCOPE_MISSING), scoped.text


@pytest.mark.both_stores
async def test_mcps_paid_fetch_is_the_same_operation(
    settings: Settings,
    db: Database,
    agent: MerchantKey,
    tally_seller: TallySeller,
    tally: TallyPayer,
) -> None:
    served = settings.model_copy(update={"allow_private_webhook_urls": True})
    arguments = {"url": f"{tally_seller.url}/report", "idempotency_key": "mcp-1"}
    async with live_server(served) as root, mcp_http(root, agent.key) as session:
        [tool] = [t for t in (await session.list_tools()).tools if t.name == "paid_fetch"]
        fetched = await envelope_of(session, "paid_fetch", arguments)
        assert (fetched.code, fetched.is_error) == (1000, False), fetched.envelope
        validate(fetched.envelope, tool.output_schema)
        again = await envelope_of(session, "paid_fetch", arguments)
    payment, response = fetched.data["payment"], fetched.data["response"]
    assert json.loads(response["body"])["paid_with"] == tally.made[payment["id"]].value
    assert again.data["payment"]["id"] == payment["id"]
    assert len(tally.makes) == 1 and await merchant_balance(db, agent) == 5_000 - 25


@pytest.mark.parametrize(
    ("url", "env", "proven"),
    [
        ("https://seller.example/r", "live", True),
        ("HTTPS://seller.example/r", "live", True),
        ("http://seller.example/r", "live", False),
        ("http://127.0.0.1:8000/r", "staging", True),
    ],
)
def test_an_origin_is_proven_where_tls_vouches_for_it_or_in_staging(
    url: str, env: str, proven: bool
) -> None:
    assert proves(url, env) is proven


async def test_a_402_no_payer_reads_or_a_seller_not_reached_pays_nothing(
    settings: Settings,
    db: Database,
    agent: MerchantKey,
    tally_seller: TallySeller,
    idle_port: int,
) -> None:
    before = await written(db, agent)
    async with buyer(settings) as http:
        # Tally's paying half is not registered: its challenge is no protocol's this pays.
        unread = await _fetch(http, agent, "u-1", url=f"{tally_seller.url}/report")
        assert (unread.status_code, unread.json()["code"]) == (400, 4504), unread.text
        gone = await _fetch(http, agent, "u-2", url=f"http://127.0.0.1:{idle_port}/r")
        assert (gone.status_code, gone.json()["code"]) == (502, 4646), gone.text
    assert await written(db, agent) == before


@pytest.mark.both_stores
async def test_fetches_racing_under_one_key_pay_once(
    settings: Settings,
    db: Database,
    agent: MerchantKey,
    tally_seller: TallySeller,
    tally: TallyPayer,
) -> None:
    url = f"{tally_seller.url}/report"
    async with buyer(settings) as http:
        replies = await asyncio.gather(*(_fetch(http, agent, "race-1", url=url) for _ in range(6)))
    # Each is the seller's answer to the one payment, or that payment still being made.
    codes = sorted((r.status_code, r.json()["code"]) for r in replies)
    assert set(codes) <= {(200, 1000), (409, 4641)} and (200, 1000) in codes, codes
    paid = {r.json()["data"]["payment"]["id"] for r in replies if r.status_code == 200}
    assert len(paid) == 1 and len(tally.makes) == 1
    assert len(await payment_rows(db, agent.merchant_id)) == 1
    assert await merchant_balance(db, agent) == 5_000 - 25
