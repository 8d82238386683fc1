"""Retention of the spans a give-back reads (``credit_draws``): a wallet's spans go once no
give-back can reach them (past the horizon, and older than every debit of the wallet still held);
a held send's stay until it is decided, and so do the spans after it. On both stores."""

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from gateway.billing.wallet import funding
from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.store.engine import Database
from gateway.store.models import CreditDraw, LedgerEntry, table_of
from gateway.values.clock import utcnow
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy
from worker.retention import prune_draws

_D, _L = table_of(CreditDraw), table_of(LedgerEntry)
HOLDS = {"scopes": ["topup:send", "topup:read"], "approval_above_cents": 100}
SEND = {"platform": "claude", "recipient_email": "held@example.com", "amount_cents": 300}


async def _spans(db: Database, wallet_id: str) -> list[int]:
    async with db.read() as conn:
        found = await conn.execute(
            select(_D.c.to_cents).where(_D.c.wallet_id == wallet_id).order_by(_D.c.to_cents)
        )
        return [int(to) for (to,) in found]


async def _drawn(db: Database, wallet_id: str, reference: str, days_ago: int) -> None:
    """The debit ``reference`` drawn (its span written), dated ``days_ago``."""
    async with db.transaction() as conn:
        await grants.settle(conn, wallet_id)
        await conn.execute(
            update(_L)
            .where(_L.c.wallet_id == wallet_id, _L.c.reference == reference)
            .values(created_at=utcnow() - timedelta(days=days_ago))
        )


async def test_spans_go_once_no_give_back_can_reach_them(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=5_000)
    await set_policy(db, merchant.key_id, HOLDS)
    async with db.read() as conn:
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(merchant.merchant_id))
    assert wallet is not None
    wallet_id = wallet.wallet_id

    async def debit(reference: str, days_ago: int) -> None:
        moved: dict[str, Any] = {
            "env": "staging",
            "merchant_id": merchant.merchant_id,
            "memo": None,
        }
        async with db.transaction() as conn:
            taken = await funding.debit_merchant(
                conn, amount=100, source="adjustment", reference=reference, now=utcnow(), **moved
            )
            assert taken is not None
        await _drawn(db, wallet_id, reference, days_ago)

    await debit("first", 100)  # spans [0, 100)
    held = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert held.status_code == 202, held.text
    topup_id = held.json()["transaction_id"]
    await _drawn(db, wallet_id, topup_id, 99)  # [100, 400): held, its give-back still to come
    await debit("after", 98)  # [400, 500)
    await debit("recent", 1)  # [500, 600)
    assert await _spans(db, wallet_id) == [100, 400, 500, 600]

    # Only what ends before the held send's debit goes; the recent one is within the horizon.
    assert await prune_draws(db, now=utcnow(), days=90) >= 1
    assert await _spans(db, wallet_id) == [400, 500, 600]

    # Decided (denied: its give-back made), the held send no longer holds the spans after it.
    owner = await make_merchant("staging", merchant_id=merchant.merchant_id)
    denied = await client.post(f"/topup/{topup_id}/deny", headers=owner.headers)
    assert denied.status_code == 200, denied.text
    await prune_draws(db, now=utcnow(), days=90)
    assert await _spans(db, wallet_id) == [600]


async def test_another_wallets_held_send_keeps_none_of_this_wallets_spans(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    # Each wallet's oldest held debit bounds its own spans only: another wallet's send, held
    # since long before, once kept every wallet's spans (the bound was read over all wallets).
    other = await make_merchant("staging", balance_cents=5_000)
    await set_policy(db, other.key_id, HOLDS)
    held = await client.post("/topup/send", json=SEND, headers=other.headers)
    assert held.status_code == 202, held.text
    async with db.read() as conn:
        theirs = await ledger.balance(conn, "staging", ledger.merchant_owner(other.merchant_id))
    assert theirs is not None
    await _drawn(db, theirs.wallet_id, held.json()["transaction_id"], 400)

    merchant = await make_merchant("staging", balance_cents=5_000)
    async with db.read() as conn:
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(merchant.merchant_id))
    assert wallet is not None
    async with db.transaction() as conn:
        taken = await funding.debit_merchant(
            conn,
            amount=100,
            source="adjustment",
            reference="old",
            now=utcnow(),
            env="staging",
            merchant_id=merchant.merchant_id,
            memo=None,
        )
        assert taken is not None
    await _drawn(db, wallet.wallet_id, "old", 100)
    assert await _spans(db, wallet.wallet_id) == [100]

    assert await prune_draws(db, now=utcnow(), days=90) >= 1
    assert await _spans(db, wallet.wallet_id) == []
    assert await _spans(db, theirs.wallet_id) == [300]
