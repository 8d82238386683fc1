"""The cap on approval mails (``mail.caps.approvals_gate``): held sends of one merchant (on
PostgreSQL over two gateway processes) mail its approver at most
``AITOPUP_APPROVAL_MAILS_PER_MERCHANT_PER_HOUR`` times, the last of them saying so; the rest
are written held, never sent, and every send stays held and decidable. While Redis stalls, no
approval mail goes at all, and the sends are decidable all the same. On both stores.

The cap is 60 by default (asserted, as docs/approvals.md states it); the race runs under a cap
of 10, so 30 sends, 8 at a time, cross it three times over, the 10th in the middle of the
second batch: a count read before another send's counted lets an 11th mail go."""

import asyncio
import json
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.mail import caps
from gateway.mail.content import compose
from gateway.redis_server import RedisServer
from gateway.store.engine import Database
from gateway.store.models import Mail, Topup, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import (
    STALLED_REDIS,
    TEST_SECRET,
    live_server,
    local_client,
    make_settings,
)
from tests.fixtures.merchants import MakeMerchant, MerchantKey, add_member, assert_ledger_balanced
from tests.fixtures.policies import gateway_processes, set_policy
from tests.fixtures.redis import stalled

_M, _T = table_of(Mail), table_of(Topup)
SEALER = Sealer(TEST_SECRET.encode())
HELD = {"scopes": ["topup:send", "topup:read"], "approval_above_cents": 500}
BODY = {"platform": "claude", "amount_cents": 900, "recipient_email": "held@example.com"}
SENDS, AT_ONCE, CAP = 30, 8, 10


async def _agent_and_approver(
    db: Database, make_merchant: MakeMerchant
) -> tuple[MerchantKey, MerchantKey]:
    agent = await make_merchant("live", balance_cents=SENDS * 1_000)
    approver = await make_merchant("live", merchant_id=agent.merchant_id)
    await set_policy(db, agent.key_id, HELD)
    await set_policy(db, approver.key_id, {"scopes": ["approvals", "topup:read"]})
    await add_member(db, agent.merchant_id)  # the one person mailed
    return agent, approver


async def _held_sends(roots: list[str], agent: MerchantKey, count: int) -> list[str]:
    """``count`` held sends, ``AT_ONCE`` in flight at a time, spread over ``roots``."""
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(local_client(base_url=root, timeout=60))
            for root in roots
        ]

        async def one(n: int) -> str:
            sent = await clients[n % len(clients)].post(
                "/topup/send", json=BODY, headers=agent.headers
            )
            assert sent.status_code == 202, sent.text
            assert sent.json()["status"] == "pending_approval"
            txn: str = sent.json()["transaction_id"]
            return txn

        txns: list[str] = []
        for start in range(0, count, AT_ONCE):
            batch = range(start, min(count, start + AT_ONCE))
            txns += await asyncio.gather(*(one(n) for n in batch))
        return txns


async def _approval_mails(db: Database, merchant_id: str) -> list[tuple[Any, dict[str, Any]]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(_M).where(_M.c.merchant_id == merchant_id, _M.c.kind == "approval_request")
            )
        ).all()
    return [(row, json.loads(SEALER.open(row.data_sealed, context=row.id))) for row in rows]


async def _approve(root: str, approver: MerchantKey, txn: str) -> None:
    async with local_client(base_url=root, timeout=60) as http:
        done = await http.post(f"/topup/{txn}/approve", headers=approver.headers)
    assert done.status_code == 200 and done.json()["status"] == "delivered", done.text


async def _statuses(db: Database, merchant_id: str) -> Counter[str]:
    async with db.read() as conn:
        found = await conn.execute(select(_T.c.status).where(_T.c.merchant_id == merchant_id))
        return Counter(found.scalars())


async def _cap_holds(
    db: Database, roots: list[str], make_merchant: MakeMerchant, settings: Settings
) -> None:
    cap = settings.approval_mails_per_merchant_per_hour
    assert cap == CAP
    agent, approver = await _agent_and_approver(db, make_merchant)
    txns = await _held_sends(roots, agent, SENDS)
    mails = await _approval_mails(db, agent.merchant_id)
    assert len(mails) == SENDS
    assert Counter(row.status for row, _ in mails) == {"queued": cap, "held": SENDS - cap}
    assert {row.last_error for row, _ in mails if row.status == "held"} == {
        f"held: over {cap} approval mails from this merchant in an hour"
    }
    # The last mail the hour lets through says the next held sends wait unmailed.
    [last] = [row for row, data in mails if data.get("last_this_hour")]
    assert last.status == "queued"
    async with db.read() as conn:
        message = await compose(
            conn, SEALER, last, base_url="http://x", link_ttl_seconds=60, now=utcnow()
        )
    assert message is not None
    for shown in (message.rendered.text, message.rendered.html):
        assert "the last approval mail" in shown and "approvals inbox" in shown
    assert await _statuses(db, agent.merchant_id) == {"pending_approval": SENDS}
    # A send whose mail was held is as decidable as any.
    unmailed = {data["transaction_id"] for row, data in mails if row.status == "held"}
    txn = next(t for t in txns if t in unmailed)
    await _approve(roots[0], approver, txn)
    assert await _statuses(db, agent.merchant_id) == {
        "pending_approval": SENDS - 1,
        "delivered": 1,
    }
    await assert_ledger_balanced(db)


async def test_held_sends_mail_at_most_the_hours_cap_across_two_processes(
    db: Database, settings: Settings, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    if db.is_sqlite:
        pytest.skip("several gateway processes share PostgreSQL, not an embedded file")
    capped = _capped(settings)
    async with gateway_processes(capped, tmp_path, 2) as roots:
        await _cap_holds(db, roots, make_merchant, capped)


async def test_held_sends_mail_at_most_the_hours_cap_on_one_live_server(
    db: Database, make_merchant: MakeMerchant, settings: Settings
) -> None:
    capped = _capped(settings)
    async with live_server(capped) as root:
        await _cap_holds(db, [f"{root}/api/public/v1"], make_merchant, capped)


def _capped(settings: Settings) -> Settings:
    """``settings`` with the race's cap, the default being the documented one."""
    # The default, as docs/approvals.md states it.
    assert Settings.model_fields["approval_mails_per_merchant_per_hour"].default == 60
    return settings.model_copy(update={"approval_mails_per_merchant_per_hour": CAP})


async def test_while_redis_stalls_no_approval_mail_goes_and_the_sends_stay_decidable(
    database_url: str, db: Database, make_merchant: MakeMerchant, private_redis: RedisServer
) -> None:
    settings = make_settings(database_url, private_redis.url, **STALLED_REDIS)
    agent, approver = await _agent_and_approver(db, make_merchant)
    async with live_server(settings) as root:
        api = f"{root}/api/public/v1"
        with stalled(private_redis):
            txns = await _held_sends([api], agent, AT_ONCE)
        mails = await _approval_mails(db, agent.merchant_id)
        assert len(mails) == AT_ONCE
        assert {(row.status, row.last_error) for row, _ in mails} == {
            ("held", caps.APPROVALS_UNCOUNTED)
        }
        assert await _statuses(db, agent.merchant_id) == {"pending_approval": AT_ONCE}
        await _approve(api, approver, txns[0])
    assert (await _statuses(db, agent.merchant_id))["delivered"] == 1
