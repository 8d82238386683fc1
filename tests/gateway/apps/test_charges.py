"""Charges: an app takes a fee from the merchant who consented, into its owner's wallet, under
the consent's policy, once per idempotency key; refunded once. Concurrent charges never pass the
consent's budget nor charge twice, on each store, through a real server."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.types import ASGIApp

from gateway.policies import levels
from gateway.store.engine import Database
from tests.fixtures.charges import FEE, paying_consent
from tests.fixtures.core import local_client
from tests.fixtures.dashboard import Account, dashboard_client, sign_up_on
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
    set_balance,
    unbalanced_wallets,
)
from tests.fixtures.oauth import Flow, register_app
from tests.fixtures.webhooks import events_of


async def test_a_charge_moves_money_to_the_app_owner_once_per_key(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    paying = await paying_consent(app, client, make_merchant)
    before = (await merchant_balance(db, paying.payer), await merchant_balance(db, paying.payee))
    made = await client.post("/charges", json=FEE, headers=paying.headers("seat-1"))
    assert made.status_code == 201, made.text
    charge = made.json()["data"]
    assert charge["status"] == "succeeded" and charge["amount_cents"] == 100
    assert charge["app_id"] == paying.flow.client_id
    again = await client.post("/charges", json=FEE, headers=paying.headers("seat-1"))
    assert again.json()["data"]["id"] == charge["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post(
        "/charges", json={**FEE, "amount_cents": 200}, headers=paying.headers("seat-1")
    )
    assert other.json()["code"] == 4003
    after = (await merchant_balance(db, paying.payer), await merchant_balance(db, paying.payee))
    assert after == (before[0] - 100, before[1] + 100)
    assert await unbalanced_wallets(db) == []
    async with db.read() as conn:
        told = await conn.execute(
            text(
                "SELECT merchant_id FROM events WHERE type = 'charge.succeeded' AND payload LIKE :p"
            ),
            {"p": f"%{charge['id']}%"},
        )
        assert {r.merchant_id for r in told} == {paying.payer.merchant_id, paying.payee.merchant_id}
    # Both sides see it; a stranger does not.
    for key in (paying.payer, paying.payee):
        seen = await client.get(f"/charges/{charge['id']}", headers=key.headers)
        assert seen.status_code == 200, seen.text
    stranger = await make_merchant("staging")
    hidden = await client.get(f"/charges/{charge['id']}", headers=stranger.headers)
    assert hidden.json()["code"] == 4250


async def test_what_a_charge_refuses(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    paying = await paying_consent(app, client, make_merchant, max_per_send="5.00")
    no_key = await client.post("/charges", json=FEE, headers=paying.headers())
    assert no_key.json()["code"] == 4006
    by_key = await client.post(
        "/charges", json=FEE, headers={**paying.payer.headers, "Idempotency-Key": "k"}
    )
    assert by_key.json()["code"] == 4252
    capped = await client.post(
        "/charges", json={**FEE, "amount_cents": 501}, headers=paying.headers("big")
    )
    assert capped.json()["code"] == 2305
    for bad in ({**FEE, "amount_cents": "1"}, {**FEE, "amount_cents": 0}, {"amount_cents": 5}):
        refused = await client.post("/charges", json=bad, headers=paying.headers("bad"))
        assert refused.status_code == 422, bad
    before = await merchant_balance(db, paying.payer)
    await _drain(db, paying.payer, leave=50)
    short = await client.post("/charges", json=FEE, headers=paying.headers("short"))
    assert short.status_code == 402
    assert short.json()["data"]["shortfall_cents"] == 50
    assert before > 50
    assert await unbalanced_wallets(db) == []


async def test_a_charge_posted_as_a_form_is_the_same_charge_as_in_json(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """As seed 004's clients post a fee: a form, its amount read as the integer JSON gives; the
    same charge in JSON under the same key replays it, and a bad form is refused as bad JSON is,
    moving nothing."""
    paying = await paying_consent(app, client, make_merchant)
    before = await merchant_balance(db, paying.payer)
    made = await client.post(
        "/charges",
        content=b"amount_cents=100&description=Monthly+seat",
        headers={**paying.headers("form-1"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert made.status_code == 201, made.text
    charge = made.json()["data"]
    assert (charge["amount_cents"], charge["description"]) == (100, "Monthly seat")
    replayed = await client.post("/charges", json=FEE, headers=paying.headers("form-1"))
    assert replayed.json()["data"]["id"] == charge["id"]
    assert replayed.headers["idempotent-replayed"] == "true"
    for form, as_json, code in (
        (
            {"amount_cents": "1.5", "description": "x"},
            {"amount_cents": 1.5, "description": "x"},
            3001,
        ),
        ({"amount_cents": "0", "description": "x"}, {"amount_cents": 0, "description": "x"}, 3001),
        ({"amount_cents": "100"}, {"amount_cents": 100}, 3001),
    ):
        by_form = await client.post("/charges", data=form, headers=paying.headers("bad-form"))
        by_json = await client.post("/charges", json=as_json, headers=paying.headers("bad-json"))
        assert (by_form.status_code, by_form.json()["code"]) == (422, code), form
        form_fields = [e["loc"] for e in by_form.json()["data"]["errors"]]
        json_fields = [e["loc"] for e in by_json.json()["data"]["errors"]]
        assert form_fields == json_fields, (form, by_form.text, by_json.text)
    twice = await client.post(
        "/charges",
        content=b"amount_cents=100&amount_cents=900&description=x",
        headers={**paying.headers("twice"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (twice.status_code, twice.json()["code"]) == (400, 4610)
    assert await merchant_balance(db, paying.payer) == before - 100


async def _drain(db: Database, merchant: MerchantKey, *, leave: int) -> None:
    async with db.transaction() as conn:
        await set_balance(conn, db, "staging", merchant.merchant_id, leave)


async def test_a_token_without_billing_cannot_charge(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=["billing", "topup:read"])
    flow = Flow(app, made["id"], made["client_secret"])
    tokens = await flow.tokens(
        await sign_up_on(dashboard_client(app)), scope="topup:read", form={"scopes": ["topup:read"]}
    )
    refused = await client.post(
        "/charges",
        json=FEE,
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Idempotency-Key": "x"},
    )
    assert refused.json()["code"] == 2301


async def test_a_charge_is_refunded_once_whole_or_in_part(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    paying = await paying_consent(app, client, make_merchant)
    first = (await client.post("/charges", json=FEE, headers=paying.headers("a"))).json()["data"]
    second = (await client.post("/charges", json=FEE, headers=paying.headers("b"))).json()["data"]
    payer = await merchant_balance(db, paying.payer)
    whole = await client.post(f"/charges/{first['id']}/refund", json={}, headers=paying.headers())
    assert whole.status_code == 200, whole.text
    assert whole.json()["data"]["status"] == "refunded"
    twice = await client.post(f"/charges/{first['id']}/refund", json={}, headers=paying.headers())
    assert twice.json()["code"] == 4251
    more = await client.post(
        f"/charges/{second['id']}/refund", json={"amount_cents": 101}, headers=paying.payee.headers
    )
    assert more.json()["code"] == 4251
    part = await client.post(
        f"/charges/{second['id']}/refund", json={"amount_cents": 40}, headers=paying.payee.headers
    )
    assert part.json()["data"]["status"] == "partially_refunded"
    not_theirs = await client.post(
        f"/charges/{second['id']}/refund", json={}, headers=paying.payer.headers
    )
    assert not_theirs.json()["code"] in (4250, 4251)
    assert await merchant_balance(db, paying.payer) == payer + 140
    assert await unbalanced_wallets(db) == []


@pytest.mark.xdist_group("concurrency")
async def test_concurrent_charges_never_pass_the_daily_budget_nor_charge_twice(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    live_url: str,
) -> None:
    root = live_url.removesuffix("/api/public/v1")
    paying = await paying_consent(app, client, make_merchant, root, limit_daily="10.00")
    payer, payee = (
        await merchant_balance(db, paying.payer),
        await merchant_balance(db, paying.payee),
    )
    limits = httpx.Limits(max_connections=100)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        # One key, twenty at once: one charge, every reply the same.
        same = await asyncio.gather(
            *(
                http.post(
                    "/charges", json={**FEE, "amount_cents": 1}, headers=paying.headers("one")
                )
                for _ in range(20)
            )
        )
        assert {r.json()["code"] for r in same} == {1004}
        assert len({r.json()["data"]["id"] for r in same}) == 1
        # Fifty at once against $10.00 a day, a cent of it spent: nine fit.
        replies = await asyncio.gather(
            *(http.post("/charges", json=FEE, headers=paying.headers(f"c-{n}")) for n in range(50))
        )
        codes = sorted(r.json()["code"] for r in replies)
        assert codes == [1004] * 9 + [2304] * 41, codes
    assert await merchant_balance(db, paying.payer) == payer - 901
    assert await merchant_balance(db, paying.payee) == payee + 901
    assert await unbalanced_wallets(db) == []
    await paying.flow.oauth.aclose()  # no socket left to the served gateway for another test


@pytest.mark.parametrize(
    ("form", "rule"),
    [
        ({"approval_above": "1.00"}, "approval_above_cents"),
        ({"approval_for_new_recipients": "on"}, "approval_for_new_recipients"),
        ({"allowed_platforms": ["claude"]}, "allowed_platforms"),
        ({"allowed_recipients": "ada@example.com"}, "allowed_recipients"),
    ],
)
async def test_a_rule_that_would_hold_or_restrict_a_charge_refuses_it(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    form: dict[str, Any],
    rule: str,
) -> None:
    paying = await paying_consent(app, client, make_merchant, **form)
    before = await merchant_balance(db, paying.payer)
    big = {**FEE, "amount_cents": 400}
    refused = await client.post("/charges", json=big, headers=paying.headers(f"held-{rule}"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == 2316 and refused.json()["data"] == {"rule": rule}
    assert await merchant_balance(db, paying.payer) == before
    listed = await client.get("/charges", headers=paying.headers())
    assert listed.json()["data"] == []


async def test_a_charge_under_the_approval_line_goes_through(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    paying = await paying_consent(app, client, make_merchant, approval_above="1.00")
    made = await client.post("/charges", json=FEE, headers=paying.headers("small"))
    assert made.status_code == 201, made.text


async def test_a_charge_counts_against_the_per_recipient_limit(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    paying = await paying_consent(
        app, client, make_merchant, per_recipient_amount="2.00", per_recipient_interval="daily"
    )
    for n in range(2):
        made = await client.post("/charges", json=FEE, headers=paying.headers(f"r-{n}"))
        assert made.status_code == 201, made.text
    over = await client.post("/charges", json=FEE, headers=paying.headers("r-2"))
    assert over.json()["code"] == 2306, over.text
    assert over.json()["data"]["limit_source"] == "per_recipient"


async def test_a_charge_is_one_transaction_on_the_driver(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A charge, as a send, takes one kind of connection: the driver's (``Database.run``), its
    claim, payee, plan and reply in one transaction; never a SQLAlchemy connection beside it."""
    paying = await paying_consent(app, client, make_merchant)
    opened: list[str] = []

    def spied(name: str) -> Any:
        real = getattr(Database, name)

        def door(self: Database) -> Any:
            opened.append(name)
            return real(self)

        return door

    for name in ("transaction", "read"):
        monkeypatch.setattr(Database, name, spied(name))
    made = await client.post("/charges", json=FEE, headers=paying.headers("driver"))
    assert made.status_code == 201, made.text
    again = await client.post("/charges", json=FEE, headers=paying.headers("driver"))
    assert again.json()["data"] == made.json()["data"]
    assert opened == []


async def test_a_fee_that_takes_the_app_owners_wallet_back_above_its_level_tells_it(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """The fee is a credit of the owner's wallet, checked for recovery as every credit is: one
    ``balance.recovered`` once it is back a margin above the level a send took it under
    (``policies.levels``)."""
    paying = await paying_consent(app, client, make_merchant)
    owner = paying.payee
    start = await merchant_balance(db, owner)
    level = start - 50
    alerts = await client.put(
        "/wallet/alerts", json={"thresholds_cents": [level]}, headers=owner.headers
    )
    assert alerts.status_code == 200, alerts.text
    send = {"platform": "claude", "amount_cents": 100, "recipient_email": "low@example.com"}
    sent = await client.post("/topup/send", json=send, headers=owner.headers)
    assert sent.json()["code"] == 1001, sent.text
    [low] = await events_of(db, owner.merchant_id, "balance.low")
    assert low["data"]["threshold_cents"] == level
    assert await events_of(db, owner.merchant_id, "balance.recovered") == []

    short = await client.post(
        "/charges", json={**FEE, "amount_cents": 40}, headers=paying.headers("fee-1")
    )
    assert short.status_code == 201, short.text
    assert await events_of(db, owner.merchant_id, "balance.recovered") == []  # still under
    at_level = await client.post(
        "/charges", json={**FEE, "amount_cents": 10}, headers=paying.headers("fee-2")
    )
    assert at_level.status_code == 201, at_level.text
    assert await merchant_balance(db, owner) == level
    assert await events_of(db, owner.merchant_id, "balance.recovered") == []  # within the margin
    above = level + levels.margin(level)
    made = await client.post(
        "/charges",
        json={**FEE, "amount_cents": above - level},
        headers=paying.headers("fee-margin"),
    )
    assert made.status_code == 201, made.text
    [recovered] = await events_of(db, owner.merchant_id, "balance.recovered")
    assert recovered["data"] == {
        "balance_cents": above,
        "threshold_cents": level,
        "currency": "USD",
    }
    again = await client.post("/charges", json=FEE, headers=paying.headers("fee-3"))
    assert again.status_code == 201, again.text
    assert len(await events_of(db, owner.merchant_id, "balance.recovered")) == 1  # once
    assert await unbalanced_wallets(db) == []


@pytest.mark.xdist_group("concurrency")
async def test_a_cent_charged_and_refunded_forty_times_across_a_level_tells_it_once(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """Each charge takes the payer a cent under its level and each refund back to it: one
    ``balance.low``, no ``balance.recovered`` (never a margin above); a real recovery re-arms
    it, and the next crossing is told again."""
    paying = await paying_consent(app, client, make_merchant)
    payer = paying.payer
    async with db.transaction() as conn:
        await set_balance(conn, db, "staging", payer.merchant_id, 200)
    put = await client.put(
        "/wallet/alerts", json={"thresholds_cents": [200]}, headers=payer.headers
    )
    assert put.status_code == 200, put.text
    grants_before = await _grant_count(db, payer)
    for i in range(40):
        cent = {**FEE, "amount_cents": 1}
        made = await client.post("/charges", json=cent, headers=paying.headers(f"cent-{i}"))
        assert made.status_code == 201, made.text
        back = await client.post(
            f"/charges/{made.json()['data']['id']}/refund", json={}, headers=paying.headers()
        )
        assert back.status_code == 200, back.text
    assert len(await events_of(db, payer.merchant_id, "balance.low")) == 1
    assert await events_of(db, payer.merchant_id, "balance.recovered") == []
    # Each refund went back to the grant its cent was drawn from: no grant was made for it.
    assert await _grant_count(db, payer) == grants_before
    await assert_ledger_balanced(db)
    funded = await client.post(
        "/sandbox/fund", json={"amount_cents": levels.margin(200)}, headers=payer.headers
    )
    assert funded.status_code == 200, funded.text
    assert len(await events_of(db, payer.merchant_id, "balance.recovered")) == 1
    under = {**FEE, "amount_cents": levels.margin(200) + 1}
    again = await client.post("/charges", json=under, headers=paying.headers("under"))
    assert again.status_code == 201, again.text
    assert len(await events_of(db, payer.merchant_id, "balance.low")) == 2
    assert await unbalanced_wallets(db) == []


async def _grant_count(db: Database, merchant: MerchantKey) -> int:
    found = text(
        "SELECT COUNT(*) FROM credit_grants g JOIN wallets w ON w.id = g.wallet_id "
        "WHERE w.owner = :owner AND w.env = 'staging'"
    )
    async with db.read() as conn:
        return int((await conn.execute(found, {"owner": f"m:{merchant.merchant_id}"})).scalar_one())


async def _merchant_of(db: Database, person: Account) -> str:
    """The merchant ``person`` signed up."""
    found = text(
        "SELECT mu.merchant_id FROM merchant_users mu JOIN users u ON u.id = mu.user_id "
        "WHERE u.email = :email"
    )
    async with db.read() as conn:
        return str((await conn.execute(found, {"email": person.email})).scalar_one())


@pytest.mark.xdist_group("concurrency")
async def test_charges_each_way_between_two_merchants_at_once_all_go_through(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    live_url: str,
) -> None:
    """Each merchant has an app the other pays: charges both ways at once, and refunds of them,
    each lock both wallets in one order, so none waits on the other for ever (PostgreSQL would
    break such a deadlock by failing one of them)."""
    root = live_url.removesuffix("/api/public/v1")
    people = [await sign_up_on(dashboard_client(app)) for _ in range(2)]
    keys = [
        await make_merchant("staging", merchant_id=await _merchant_of(db, p), balance_cents=50_000)
        for p in people
    ]
    tokens = []
    for owner, payer in ((keys[0], people[1]), (keys[1], people[0])):
        registered = await register_app(client, owner, scopes=["billing", "topup:read"])
        flow = Flow(app, registered["id"], registered["client_secret"], root=root)
        got = await flow.tokens(payer, scope="billing topup:read", form={"scopes": ["billing"]})
        tokens.append({"Authorization": f"Bearer {got['access_token']}"})
        await flow.oauth.aclose()
    before = [await merchant_balance(db, k) for k in keys]
    async with local_client(base_url=live_url, timeout=60) as http:

        async def charge(way: int, n: int) -> dict[str, Any]:
            headers = {**tokens[way], "Idempotency-Key": f"way-{way}-{n}"}
            reply = await http.post("/charges", json=FEE, headers=headers)
            return dict(reply.json())

        charged = await asyncio.gather(*(charge(n % 2, n) for n in range(40)))
        assert [c["code"] for c in charged] == [1004] * 40, charged
        refunds = await asyncio.gather(
            *(
                http.post(f"/charges/{m['data']['id']}/refund", json={}, headers=tokens[n % 2])
                for n, m in enumerate(charged[:20])
            )
        )
        assert [r.status_code for r in refunds] == [200] * 20, [r.text for r in refunds]
    # Twenty each way, ten each way given back: both where they began.
    assert [await merchant_balance(db, k) for k in keys] == before
    assert await unbalanced_wallets(db) == []
