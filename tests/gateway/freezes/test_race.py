"""Sends racing a freeze: none is admitted after the freeze's commit, and unfreezing restores.

Sends spread over two gateway processes (PostgreSQL; on SQLite, whose file one process
serves, one live server) are in flight when a key pulls the switch. Each send's debit is
ordered against the freeze's write on the wallet row, so the wallet and its top-ups as read the
moment the freeze has answered are what they are once every send has answered: every send is
either delivered (debited before the freeze) or refused with 2360, nothing written; afterwards
every process refuses at once, and after the unfreeze every process sends again.

120 sends, the freeze pulled once a sixth have answered: a hundred are still in flight, so
some answer after the freeze whichever way it was ordered (the test asserts both outcomes
occur), and a send admitted past the freeze would show as a debit or a top-up the freeze's
answer did not see.
"""

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from gateway.store.engine import Database
from gateway.store.models import Topup, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance
from tests.fixtures.policies import two_gateways

SENDS, AMOUNT, START = 120, 100, 100_000
_T = table_of(Topup)
BODY = {"platform": "claude", "amount_cents": AMOUNT, "recipient_email": "race@example.com"}


async def _topups(db: Database, merchant_id: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(
            select(func.count()).select_from(_T).where(_T.c.merchant_id == merchant_id)
        )
        return int(found.scalar_one())


async def _race(db: Database, roots: list[str], make_merchant: MakeMerchant) -> None:
    merchant = await make_merchant(balance_cents=START)
    headers = merchant.headers
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                local_client(base_url=root, timeout=60, limits=httpx.Limits(max_connections=40))
            )
            for root in roots
        ]
        started = asyncio.Event()
        sent = 0

        async def one(i: int) -> Any:
            nonlocal sent
            reply = await clients[i % len(clients)].post("/topup/send", json=BODY, headers=headers)
            sent += 1
            if sent >= SENDS // 6:
                started.set()
            return reply.json()

        sends = [asyncio.ensure_future(one(i)) for i in range(SENDS)]
        await started.wait()  # some delivered, many in flight: now the switch
        # On a client of its own: not queued behind the sends for a connection.
        async with local_client(base_url=roots[0], timeout=60) as switch:
            frozen = await switch.post("/freeze", json={}, headers=headers)
        assert frozen.json()["code"] == 1000, frozen.json()
        balance_at_freeze = await merchant_balance(db, merchant)
        topups_at_freeze = await _topups(db, merchant.merchant_id)
        replies = await asyncio.gather(*sends)

        delivered = [r for r in replies if r["code"] == 1001]
        refused = [r for r in replies if r["code"] == 2360]
        assert len(delivered) + len(refused) == SENDS, {r["code"] for r in replies}
        assert delivered and refused
        # Nothing admitted after the freeze's commit: what it saw is all there is.
        assert await merchant_balance(db, merchant) == balance_at_freeze
        assert await _topups(db, merchant.merchant_id) == topups_at_freeze == len(delivered)
        assert balance_at_freeze == START - AMOUNT * len(delivered)
        for http in clients:  # every process refuses at once
            after = await http.post("/topup/send", json=BODY, headers=headers)
            assert after.json()["code"] == 2360

        thawed = await clients[-1].delete("/freeze", headers=headers)
        assert thawed.json()["data"]["frozen"] is False
        for http in clients:
            again = await http.post("/topup/send", json=BODY, headers=headers)
            assert again.json()["code"] == 1001
    assert await merchant_balance(db, merchant) == balance_at_freeze - AMOUNT * len(clients)
    await assert_ledger_balanced(db)


async def test_sends_racing_a_freeze_across_two_processes(
    db: Database, settings: Settings, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    async with two_gateways(db, settings, tmp_path) as roots:
        await _race(db, roots, make_merchant)


async def test_sends_racing_a_freeze_on_one_live_server(
    db: Database, live_url: str, make_merchant: MakeMerchant
) -> None:
    await _race(db, [live_url], make_merchant)
