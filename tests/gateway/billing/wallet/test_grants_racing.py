"""Sends racing over grants of three categories draw exactly the balance, never below zero, in
the draw order: 45 of $1.50 over $53.00 of grants (on PostgreSQL across two gateway
processes; on SQLite, whose file one process serves, one live server), grants made by the
operator racing them. Forty-five are enough: all are in flight together, ten more than the
grants pay for, and no grant runs out on a whole send (some sends draw from two), so a draw
that read a grant before another send's draw committed spends a cent twice or past zero.

And on PostgreSQL, a send that waited for the wallet while a grant was made is drawn from that
grant, as is a send that a check-in's grant then waited behind: the check-in's plan reads the
grants once the wallet is locked, and sees every grant before it."""

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from gateway.billing.wallet import grants
from gateway.billing.wallet.grants import GrantCreate
from gateway.ledger import grants as rules
from gateway.store.engine import Database
from gateway.store.models import CreditGrant, table_of
from gateway.values.clock import new_id, utcnow
from gateway.values.settings import Settings
from tests.fixtures.core import local_client, wait_until
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.policies import two_gateways

SENDS, AMOUNT = 45, 150
BODY = {"platform": "claude", "amount_cents": AMOUNT, "recipient_email": "race@example.com"}
_G = table_of(CreditGrant)
DAY = timedelta(days=1)


async def _grant(db: Database, merchant: MerchantKey, **fields: Any) -> str:
    body = GrantCreate.model_validate({"env": merchant.env, **fields})
    async with db.transaction() as conn:
        made, _ = await grants.grant(conn, merchant.merchant_id, body, new_id("adj"), utcnow())
    return made.id


async def _remaining(db: Database, merchant: MerchantKey) -> list[tuple[str, int]]:
    """The merchant's grants in the draw order, each with what is left once the debits so far
    are drawn."""
    owner = f"m:{merchant.merchant_id}"
    wallets = text("SELECT id FROM wallets WHERE owner = :owner AND env = :env")
    async with db.transaction() as conn:
        wallet = (await conn.execute(wallets, {"owner": owner, "env": merchant.env})).scalar()
        assert wallet is not None
        await rules.settle(conn, wallet)
        rows = await conn.execute(
            select(_G.c.id, _G.c.remaining_cents)
            .where(_G.c.wallet_id == wallet)
            .order_by(*rules.draw_order(_G))
        )
        return [(r.id, int(r.remaining_cents)) for r in rows]


async def _race(db: Database, roots: list[str], make_merchant: MakeMerchant) -> None:
    merchant = await make_merchant(balance_cents=0)
    [(initial, _)] = await _remaining(db, merchant)  # the staging wallet's first, spent
    now = utcnow()
    # In the draw order: priority 10 first, then the soonest expiry, bought credit last.
    first = await _grant(db, merchant, amount_cents=700, category="paid", priority=10)
    promo = await _grant(
        db, merchant, amount_cents=1000, category="promotional", expires_at=now + DAY
    )
    plan = await _grant(db, merchant, amount_cents=1700, category="plan", expires_at=now + 30 * DAY)
    paid = await _grant(db, merchant, amount_cents=1900, category="paid")
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                local_client(base_url=root, timeout=60, limits=httpx.Limits(max_connections=40))
            )
            for root in roots
        ]

        async def one(i: int) -> int:
            reply = await clients[i % len(clients)].post(
                "/topup/send", json=BODY, headers=merchant.headers
            )
            return int(reply.json()["code"])

        codes = await asyncio.gather(*(one(i) for i in range(SENDS)))
    delivered = 5_300 // AMOUNT  # 35: the grants hold $53.00
    assert sorted(codes) == [1001] * delivered + [4001] * (SENDS - delivered)
    assert await merchant_balance(db, merchant) == 5_300 - delivered * AMOUNT == 50
    # Drawn in order: everything before the last grant spent, 50 cents of it left.
    assert await _remaining(db, merchant) == [
        (first, 0),
        (promo, 0),
        (plan, 0),
        (initial, 0),
        (paid, 50),
    ]
    await assert_ledger_balanced(db)


async def test_sends_racing_over_grants_across_two_processes(
    db: Database, settings: Settings, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    async with two_gateways(db, settings, tmp_path) as roots:
        await _race(db, roots, make_merchant)


async def test_sends_racing_over_grants_on_one_live_server(
    db: Database, live_url: str, make_merchant: MakeMerchant
) -> None:
    await _race(db, [live_url], make_merchant)


async def _waiting(db: Database, at_least: int) -> None:
    """Until ``at_least`` statements wait for a lock on a wallet's row."""

    async def waiting() -> bool:
        async with db.read() as reader:
            found = await reader.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query LIKE '%wallets%'"
                )
            )
            return int(found.scalar() or 0) >= at_least

    await wait_until(waiting, within=20)


async def test_a_send_that_waited_for_a_new_grant_draws_it_first(
    db: Database, live_url: str, make_merchant: MakeMerchant
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite's one writer runs a send after a grant, never beside it")
    merchant = await make_merchant(balance_cents=1000)
    [(paid, _)] = await _remaining(db, merchant)
    async with local_client(base_url=live_url, timeout=60) as http:
        async with db.transaction() as conn:
            # The grant holds the wallet's lock until its commit: the send waits for it, and
            # behind it the check-in's plan, whose grant must find the send drawn from this one.
            body = GrantCreate(env="staging", amount_cents=300, category="promotional", priority=0)
            made, _ = await grants.grant(conn, merchant.merchant_id, body, new_id("adj"), utcnow())
            send = asyncio.ensure_future(
                http.post("/topup/send", json=BODY, headers=merchant.headers)
            )
            await _waiting(db, 1)
            checkin = asyncio.ensure_future(http.post("/checkin", headers=merchant.headers))
            await _waiting(db, 2)
        reply, checked = await send, await checkin
    assert reply.json()["code"] == 1001, reply.text
    assert checked.status_code == 200, checked.text
    gift = int(checked.json()["data"]["amount_cents"])
    # Priority 0 is drawn first: the new grant, which the send came after. The check-in's
    # grant, drawn before paid credit, came after the send: untouched.
    remaining = dict(await _remaining(db, merchant))
    assert remaining.pop(made.id) == 150
    assert remaining.pop(paid) == 1000
    assert list(remaining.values()) == [gift]
    await assert_ledger_balanced(db)
