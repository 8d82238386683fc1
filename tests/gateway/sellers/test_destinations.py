"""The leash judges where the money goes, on each store: every payee rule of a key's policy
(``allowed_payees``, ``per_payee_limit``, the approval of a new payee) keys on a payment's
destination, never on the url the agent names; an origin in ``allowed_payees`` admits only the
destinations a person bound to it (by approving a payment, or the merchant's own list), and any
other is held for a person, never paid on the agent's word."""

import asyncio
from typing import Any

import httpx

from gateway.store.engine import Database
from tests.fixtures.held_payments import NEW_PAYEES, held, status_of
from tests.fixtures.merchants import MakeMerchant, MerchantKey, merchant_balance
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import SELLER, pay
from tests.fixtures.tally_payer import TallyPayer, challenge

PAYING = ["payments:send"]
ORIGIN = "https://api.seller.example"
OTHER = challenge(payee="acct_other")  # another destination, named under the same url


async def _agent(
    make_merchant: MakeMerchant, db: Database, policy: dict[str, Any]
) -> tuple[MerchantKey, MerchantKey]:
    """A paying key under ``policy``, and another key of the merchant's that may approve."""
    agent = await make_merchant(balance_cents=5_000)
    await set_policy(db, agent.key_id, policy)
    return agent, await make_merchant(merchant_id=agent.merchant_id)


async def _approve(client: httpx.AsyncClient, who: MerchantKey, payment_id: str) -> None:
    approved = await client.post(f"/payments/{payment_id}/approve", headers=who.headers)
    assert approved.status_code == 200, approved.text


async def test_an_origin_alone_never_admits_another_destination_named_under_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, approver = await _agent(
        make_merchant, db, {"scopes": PAYING, "allowed_payees": [ORIGIN]}
    )
    # The agent names the allowed url with another seller's challenge: held, nothing made.
    stray = await held(client, agent, "o-1", said=OTHER)
    assert tally.makes == []
    first = await held(client, agent, "o-2")
    assert tally.makes == []
    # A person approves the second: its destination is bound to the origin from now on.
    await _approve(client, approver, first)
    assert await status_of(db, first) == ("authorized", approver.key_id)
    bound = await pay(client, agent, "o-3", url=f"{ORIGIN}/v2/other")
    assert bound.status_code == 201, bound.text
    assert bound.json()["data"]["destination"] == "tally:acct_seller"
    # The stray one stays held, and a new one to its destination is held too.
    assert (await status_of(db, stray))[0] == "pending_approval"
    await held(client, agent, "o-4", said=OTHER)
    assert len(tally.makes) == 2
    # A url the origin does not name is refused whatever it pays.
    refused = await pay(client, agent, "o-5", url="https://elsewhere.example/x")
    assert (refused.status_code, refused.json()["code"]) == (403, 2314)


async def test_a_per_payee_limit_counts_one_destination_under_every_url(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    per = {"amount_cents": 500, "interval": "daily"}
    agent, _ = await _agent(make_merchant, db, {"scopes": PAYING, "per_payee_limit": per})
    five = challenge(500)
    assert (await pay(client, agent, "l-1", said=five)).status_code == 201
    again = await pay(client, agent, "l-2", url="https://mirror.example/r", said=five)
    body = again.json()
    assert (again.status_code, body["code"]) == (402, 2315), body
    assert (body["data"]["limit_source"], body["data"]["remaining_cents"]) == ("per_payee", 0)
    assert await merchant_balance(db, agent) == 5_000 - 500
    usage = (await client.get("/keys/self", headers=agent.headers)).json()["data"]
    assert [(p["payee"], p["spent_cents"]) for p in usage["payees"]] == [("tally:acct_seller", 500)]


async def test_after_an_approved_payment_a_new_destination_under_its_origin_is_held(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, approver = await _agent(make_merchant, db, NEW_PAYEES)
    first = await held(client, agent, "n-1")
    await _approve(client, approver, first)
    nine = challenge(900, payee="acct_new")
    await held(client, agent, "n-2", url=SELLER, said=nine)
    assert tally.makes == [first]


async def test_the_merchants_own_list_binds_a_destination_and_only_a_person_writes_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, person = await _agent(make_merchant, db, {"scopes": PAYING, "allowed_payees": [ORIGIN]})
    wanted = {"origin": "HTTPS://API.seller.example:443", "destination": "tally:acct_other"}
    # The agent's own key may pay, never bind.
    refused = await client.post("/payments/bindings", json=wanted, headers=agent.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, 2301)
    for bad in ({**wanted, "origin": "https://a.example/path"}, {**wanted, "destination": ORIGIN}):
        out = await client.post("/payments/bindings", json=bad, headers=person.headers)
        assert (out.status_code, out.json()["code"]) == (422, 3001), out.text
    made = await client.post("/payments/bindings", json=wanted, headers=person.headers)
    assert made.status_code == 201, made.text
    shown = made.json()["data"]
    assert (shown["origin"], shown["destination"]) == (ORIGIN, "tally:acct_other")
    assert shown["bound_by"] == person.key_id
    again = await client.post("/payments/bindings", json=wanted, headers=person.headers)
    assert again.json()["data"]["id"] == shown["id"]  # bound once
    paid = await pay(client, agent, "b-1", said=OTHER)
    assert paid.status_code == 201, paid.text
    listed = await client.get("/payments/bindings", headers=person.headers)
    assert [b["id"] for b in listed.json()["data"]] == [shown["id"]]
    gone = await client.delete(f"/payments/bindings/{shown['id']}", headers=person.headers)
    assert gone.status_code == 200, gone.text
    missing = await client.delete(f"/payments/bindings/{shown['id']}", headers=person.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, 4670)
    await held(client, agent, "b-2", said=OTHER)  # unbound: a person decides again


async def test_payments_racing_to_one_destination_under_two_urls_count_in_one_window(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    """Ten payments at once, five urls naming one destination, under a per-payee limit that
    holds two: two are paid, the rest refused with nothing written, whatever url each named."""
    per = {"amount_cents": 100, "interval": "daily"}
    agent, _ = await _agent(make_merchant, db, {"scopes": PAYING, "per_payee_limit": per})
    said = challenge(50)
    replies = await asyncio.gather(
        *(
            pay(client, agent, f"r-{n}", url=f"https://mirror-{n % 5}.example/x", said=said)
            for n in range(10)
        )
    )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes == [1170, 1170, *[2315] * 8], codes
    assert await merchant_balance(db, agent) == 5_000 - 100
