"""A payment held for approval through every door, on each store, with real concurrent requests
to a real server: twenty requests under one idempotency key hold one payment and wait for its
one decision; its approver's mailed link shows it and decides it once; and twenty decisions
racing through REST, the dashboard and the mailed link decide it once, its money moved once."""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import MerchantUser, User, table_of
from tests.fixtures.core import local_client
from tests.fixtures.dashboard import Account, csrf_of, sign_up_on
from tests.fixtures.held_payments import HOLDING, link_tokens, links_of, status_of
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import SELLER, ledger_kinds, payment_rows
from tests.fixtures.tally_payer import TallyPayer, challenge

API = "/api/public/v1"
_U, _MU = table_of(User), table_of(MerchantUser)


@dataclass
class Shop:
    """A merchant signed up on the dashboard (``owner``, who is mailed its held payments'
    links), its paying key held above 10 cents and a key of its own that decides."""

    owner: Account
    agent: MerchantKey
    approver: MerchantKey
    api: httpx.AsyncClient
    root: str


@pytest.fixture
async def shop(live_url: str, make_merchant: MakeMerchant, db: Database) -> AsyncIterator[Shop]:
    root = live_url.removesuffix(API)
    limits = httpx.Limits(max_connections=100)
    async with (
        local_client(base_url=f"{root}/dashboard", follow_redirects=False) as browser,
        local_client(base_url=live_url, timeout=60, limits=limits) as api,
    ):
        owner = await sign_up_on(browser)
        async with db.read() as conn:
            merchant_id = (
                await conn.execute(
                    select(_MU.c.merchant_id)
                    .join(_U, _U.c.id == _MU.c.user_id)
                    .where(_U.c.email == owner.email)
                )
            ).scalar_one()
        agent = await make_merchant(balance_cents=1_000, merchant_id=merchant_id)
        await set_policy(db, agent.key_id, HOLDING)
        approver = await make_merchant(merchant_id=merchant_id)
        yield Shop(owner, agent, approver, api, root)


def _body() -> dict[str, str]:
    return {"url": SELLER, "challenge": challenge()}


async def _pay(shop: Shop, key: str) -> httpx.Response:
    headers = {**shop.agent.headers, "Idempotency-Key": key}
    return await shop.api.post("/payments", json=_body(), headers=headers)


async def _held(shop: Shop, key: str) -> str:
    made = await _pay(shop, key)
    assert made.status_code == 202, made.text
    payment_id: str = made.json()["data"]["id"]
    return payment_id


@pytest.mark.xdist_group("concurrency")
async def test_twenty_requests_under_one_key_hold_one_payment_until_its_decision(
    shop: Shop, db: Database, tally: TallyPayer
) -> None:
    first = await asyncio.gather(*(_pay(shop, "same") for _ in range(20)))
    assert {r.status_code for r in first} == {202}, [r.text for r in first]
    ids = {r.json()["data"]["id"] for r in first}
    assert len(ids) == 1
    [payment_id] = ids
    assert len(await payment_rows(db, shop.agent.merchant_id)) == 1
    assert await merchant_balance(db, shop.agent) == 975
    assert tally.makes == []

    approved = await shop.api.post(f"/payments/{payment_id}/approve", headers=shop.approver.headers)
    assert approved.status_code == 200, approved.text
    after = await asyncio.gather(*(_pay(shop, "same") for _ in range(20)))
    assert {r.status_code for r in after} == {201}
    assert {r.json()["data"]["value"] for r in after} == {tally.made[payment_id].value}
    assert tally.makes == [payment_id]
    assert await ledger_kinds(db, shop.agent.merchant_id) == [("payment_debit", -25)]
    await assert_ledger_balanced(db)


async def test_the_mailed_link_shows_the_held_payment_and_decides_it_once(
    shop: Shop, db: Database, tally: TallyPayer
) -> None:
    payment_id = await _held(shop, "m-1")
    token = (await link_tokens(db, payment_id))[shop.owner.email]
    async with local_client(base_url=f"{shop.root}/dashboard") as browser:
        for _ in range(2):  # opening it decides nothing
            page = await browser.get("/approval", params={"token": token})
            assert page.status_code == 200, page.text
            assert 'id="amount">$0.25<' in page.text and 'id="payee">acct_seller<' in page.text
            assert "approval line of $0.10" in page.text
        assert await status_of(db, payment_id) == ("pending_approval", None)
        form = {"csrf_token": csrf_of(page.text), "token": token, "decision": "approve"}
        done = await browser.post("/approval", data=form)
        assert done.status_code == 200 and 'id="decided"' in done.text, done.text
        assert "The payment is authorized" in done.text
        status, decided_by = await status_of(db, payment_id)
        assert status == "authorized" and (decided_by or "").startswith("user:")
        assert (await browser.get("/approval", params={"token": token})).status_code == 404
        again = await browser.post("/approval", data={**form, "decision": "deny"})
        assert again.status_code == 404
    assert tally.makes == [payment_id]
    [link] = await links_of(db, payment_id)
    assert link.used_at is not None and link.topup_id is None


@pytest.mark.xdist_group("concurrency")
async def test_twenty_decisions_racing_through_every_door_decide_once(
    shop: Shop, db: Database, tally: TallyPayer
) -> None:
    payment_id = await _held(shop, "r-1")
    token = (await link_tokens(db, payment_id))[shop.owner.email]
    owner = shop.owner.client
    inbox = await owner.get("/topups/approvals")
    assert payment_id in inbox.text
    dashboard_csrf = csrf_of(inbox.text)
    async with local_client(base_url=f"{shop.root}/dashboard", follow_redirects=False) as link:
        page = await link.get("/approval", params={"token": token})
        link_csrf = csrf_of(page.text)

        async def one(n: int) -> bool:
            """The ``n``th decision; whether it decided."""
            verb = "approve" if n % 2 else "deny"
            if n % 3 == 0:
                path = f"/payments/{payment_id}/{verb}"
                reply = await shop.api.post(path, headers=shop.approver.headers)
                assert reply.status_code in (200, 409), reply.text
                return reply.status_code == 200
            if n % 3 == 1:
                path = f"/topups/approvals/payments/{payment_id}/{verb}"
                reply = await owner.post(path, data={"csrf_token": dashboard_csrf})
                assert reply.status_code in (303, 409), reply.text
                return reply.status_code == 303
            form = {"csrf_token": link_csrf, "token": token, "decision": verb}
            reply = await link.post("/approval", data=form)
            assert reply.status_code in (200, 404), reply.text
            return reply.status_code == 200

        decided = await asyncio.gather(*(one(n) for n in range(20)))
    assert sum(decided) == 1, decided
    status, _ = await status_of(db, payment_id)
    assert status in ("authorized", "denied")
    released = [k for k in await ledger_kinds(db, shop.agent.merchant_id) if k[0].endswith("se")]
    assert released == ([] if status == "authorized" else [("payment_release", 25)])
    assert tally.makes == ([payment_id] if status == "authorized" else [])
    used = [row.used_at for row in await links_of(db, payment_id)]
    assert sum(u is not None for u in used) <= 1
    await assert_ledger_balanced(db)
    # Decided: the inbox no longer lists it.
    assert payment_id not in (await owner.get("/topups/approvals")).text
    assert re.search(r"pay_[0-9a-z]{24}", (await owner.get("/topups/approvals")).text) is None
