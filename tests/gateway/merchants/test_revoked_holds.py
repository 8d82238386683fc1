"""A revoked or expired key's held work, on each store: its sends and payments held for approval
are ended with it. No decision approves them from the revocation on (2319, before the window's
own refusal), nor from the key's expiry (2325); the worker's expiry, due at once (for an expired
key, once its sweep has closed the windows), gives their money back to the wallet, the grants it
was drawn from and the key's windows, once; a decision made before the revocation stands."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from gateway.merchants import holds as key_holds
from gateway.sellers import holds, states
from gateway.store.engine import Database
from gateway.store.models import CreditGrant, SellerPayment, Topup, Wallet, table_of
from gateway.store.queue import lease
from gateway.topup import approvals
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_SECRET
from tests.fixtures.held_payments import agent_and_approver, held, status_of
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.policies import set_policy, spend_rows
from tests.fixtures.tally_payer import TallyPayer

HOLDING = {
    "scopes": ["topup:send", "payments:send"],
    "approval_above_cents": 10,
    "limits": [{"amount_cents": 10_000, "interval": "daily"}],
}
REVOKED, EXPIRED = 2319, 2325
_G, _WA = table_of(CreditGrant), table_of(Wallet)
_T, _P = table_of(Topup), table_of(SellerPayment)
SEND = {"platform": "claude", "amount_cents": 500, "recipient_email": "ann@example.com"}


async def _held_send(client: httpx.AsyncClient, agent: MerchantKey) -> str:
    sent = await client.post("/topup/send", json=SEND, headers=agent.headers)
    assert (sent.status_code, sent.json()["status"]) == (202, "pending_approval"), sent.text
    txn: str = sent.json()["transaction_id"]
    return txn


async def _expire_due(db: Database, settings: Settings, payment_id: str) -> None:
    """The worker's part, now: the held sends' sweep and the payment's due work."""
    now = utcnow()
    for txn in await approvals.due(db, now):
        await approvals.expire(db, txn, now)
    found = await db.run(lambda tx: lease(tx, states.QUEUE, now, 30.0, 1000))
    sealer = Sealer(TEST_SECRET.encode())
    for item in [row for row in found if row.payment_id == payment_id]:
        await holds.attempt(db, sealer, settings, item, lambda: None, now=utcnow)


async def test_a_revoked_keys_held_send_and_payment_are_ended_and_given_back(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    agent, owner = await agent_and_approver(make_merchant, db, HOLDING)
    txn = await _held_send(client, agent)
    payment_id = await held(client, agent, "revoked-1")
    assert await merchant_balance(db, agent) == 1_000 - 500 - 25
    revoked = await client.delete(f"/keys/{agent.key_id}", headers=owner.headers)
    assert revoked.status_code == 200, revoked.text
    for path in (f"/topup/{txn}/approve", f"/payments/{payment_id}/approve"):
        refused = await client.post(path, headers=owner.headers)
        assert (refused.status_code, refused.json()["code"]) == (409, REVOKED), refused.text
    await _expire_due(db, settings, payment_id)
    read = await client.get(f"/topup/{txn}", headers=owner.headers)
    assert read.json()["status"] == "expired"
    assert await status_of(db, payment_id) == ("expired", "expiry")
    assert await merchant_balance(db, agent) == 1_000
    assert [spent for spent, _ in (await spend_rows(db, agent.key_id)).values()] == [0]
    await _expire_due(db, settings, payment_id)  # a second sweep gives nothing back again
    assert await merchant_balance(db, agent) == 1_000
    assert tally.makes == []
    await assert_ledger_balanced(db)


async def test_an_approval_racing_the_revocation_either_stands_or_is_given_back(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    """Real concurrent requests: the approval wins (delivered, its key revoked after) or the
    revocation does (refused, then expired and refunded); never both, never neither."""
    outcomes: set[int] = set()
    for _ in range(6):
        agent, owner = await agent_and_approver(make_merchant, db, HOLDING)
        txn = await _held_send(client, agent)
        approved, revoked = await asyncio.gather(
            client.post(f"/topup/{txn}/approve", headers=owner.headers),
            client.delete(f"/keys/{agent.key_id}", headers=owner.headers),
        )
        assert revoked.status_code == 200, revoked.text
        code: int = approved.json()["code"]
        outcomes.add(code)
        assert code in (1001, REVOKED, 4007), approved.text
        await _expire_due(db, settings, "")
        status = (await client.get(f"/topup/{txn}", headers=owner.headers)).json()["status"]
        balance = await merchant_balance(db, agent)
        expected: dict[int, Any] = {1001: ("delivered", 500), REVOKED: ("expired", 1_000)}
        expected[4007] = expected[REVOKED]
        assert (status, balance) == expected[code]
    await assert_ledger_balanced(db)


async def _grants(db: Database, merchant_id: str) -> list[tuple[str, int]]:
    async with db.read() as conn:
        found = await conn.execute(
            select(_G.c.category, _G.c.remaining_cents)
            .join(_WA, _WA.c.id == _G.c.wallet_id)
            .where(_WA.c.owner == f"m:{merchant_id}")
            .order_by(_G.c.id)
        )
        return [(category, int(left)) for category, left in found]


async def test_an_expired_keys_held_send_and_payment_are_ended_and_given_back(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    agent, owner = await agent_and_approver(make_merchant, db, HOLDING)
    ends = utcnow() + timedelta(hours=1)
    await set_policy(db, agent.key_id, {**HOLDING, "expires_at": ends.isoformat()})
    before = await _grants(db, agent.merchant_id)
    txn = await _held_send(client, agent)
    payment_id = await held(client, agent, "expired-1")
    assert await merchant_balance(db, agent) == 1_000 - 500 - 25

    # Its expiry passes (no revocation): no decision approves what it holds from then on.
    await set_policy(db, agent.key_id, {**HOLDING, "expires_at": "2020-01-01T00:00:00Z"})
    for path in (f"/topup/{txn}/approve", f"/payments/{payment_id}/approve"):
        refused = await client.post(path, headers=owner.headers)
        assert (refused.status_code, refused.json()["code"]) == (409, EXPIRED), refused.text

    # The worker's sweep closes its windows; the expiry gives the money back, grants restored.
    async with db.transaction() as conn:
        assert await key_holds.close_expired(conn, utcnow()) == 1
    await _expire_due(db, settings, payment_id)
    read = await client.get(f"/topup/{txn}", headers=owner.headers)
    assert read.json()["status"] == "expired"
    assert await status_of(db, payment_id) == ("expired", "expiry")
    assert await merchant_balance(db, agent) == 1_000
    assert await _grants(db, agent.merchant_id) == before
    async with db.transaction() as conn:
        assert await key_holds.close_expired(conn, utcnow()) == 0  # nothing held is left
    assert tally.makes == []
    await assert_ledger_balanced(db)


async def test_a_hold_older_than_todays_window_is_ended_at_the_bound(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    """A send and a payment held under a longer window than today's (a window in year 2200)
    are closed by the sweep once older than today's window, and given back; a hold within
    today's window is left to its own close."""
    agent, owner = await agent_and_approver(make_merchant, db, HOLDING)
    txn = await _held_send(client, agent)
    payment_id = await held(client, agent, "overdue-1")
    fresh = await held(client, agent, "fresh-1")
    longest = timedelta(seconds=settings.approval_ttl_seconds)
    old = {"created_at": utcnow() - longest - timedelta(minutes=1)}
    far = {**old, "approval_expires_at": datetime(2200, 1, 1, tzinfo=UTC)}
    async with db.transaction() as conn:
        await conn.execute(update(_T).where(_T.c.id == txn).values(**far))
        await conn.execute(update(_P).where(_P.c.id == payment_id).values(**far))
    async with db.transaction() as conn:
        await key_holds.close_overdue(conn, utcnow(), longest)
    await _expire_due(db, settings, payment_id)
    read = await client.get(f"/topup/{txn}", headers=owner.headers)
    assert read.json()["status"] == "expired"
    assert await status_of(db, payment_id) == ("expired", "expiry")
    assert (await status_of(db, fresh))[0] == "pending_approval"
    assert await merchant_balance(db, agent) == 1_000 - 25
    await assert_ledger_balanced(db)
