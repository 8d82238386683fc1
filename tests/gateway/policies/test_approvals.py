"""Sends held for approval, end to end: the hold shows in the balance and the key's window,
approve delivers, deny and expiry refund (wallet and window), a real receiver verifies every
webhook, and of 50 concurrent approves and denies exactly one wins."""

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook

from gateway.store.engine import Database
from gateway.store.models import LedgerEntry, Topup, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client, wait_until
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.policies import set_policy, spend_rows
from tests.fixtures.webhooks import Receiver
from tests.fixtures.workers import StartWorker
from worker import expiry

_L, _T = table_of(LedgerEntry), table_of(Topup)
AGENT = {
    "scopes": ["topup:send", "topup:read", "approvals"],
    "approval_above_cents": 1_000,
    "limits": [{"amount_cents": 10_000, "interval": "daily"}],
}
HUMAN = {"scopes": ["approvals", "topup:read", "webhooks"]}


async def _keys(db: Database, make_merchant: MakeMerchant) -> tuple[MerchantKey, MerchantKey]:
    agent = await make_merchant(balance_cents=50_000)
    human = await make_merchant(merchant_id=agent.merchant_id)
    await set_policy(db, agent.key_id, AGENT)
    await set_policy(db, human.key_id, HUMAN)
    return agent, human


def _send(amount: int, mailbox: str = "ann") -> dict[str, Any]:
    return {"platform": "claude", "amount_cents": amount, "recipient_email": f"{mailbox}@ex.com"}


async def _balance(http: httpx.AsyncClient, key: MerchantKey) -> dict[str, Any]:
    data: dict[str, Any] = (await http.get("/balance", headers=key.headers)).json()["data"]
    return data


def _verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every body the receiver got, each checked against the endpoint's signature."""
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]


async def test_approve_deny_and_expiry_end_to_end(
    db: Database,
    make_merchant: MakeMerchant,
    hook_client: httpx.AsyncClient,
    receiver: Receiver,
    start_worker: StartWorker,
) -> None:
    agent, human = await _keys(db, make_merchant)
    running = await start_worker()
    made = await hook_client.post(
        "/webhooks/endpoints", json={"url": receiver.url}, headers=human.headers
    )
    secret = made.json()["data"]["secret"]

    async def events() -> list[str]:
        return [e["type"] for e in _verified(receiver, secret)]

    # Above the line: debited and held, counted in the key's window, 202.
    held = await hook_client.post("/topup/send", json=_send(2_500), headers=agent.headers)
    assert held.status_code == 202
    assert (held.json()["code"], held.json()["status"]) == (1006, "pending_approval")
    txn = held.json()["transaction_id"]
    assert await _balance(hook_client, agent) == {
        "env": "staging", "balance_cents": 47_500, "held_cents": 2_500, "currency": "USD",
        "low_balance_threshold_cents": 0,
        "subscription": None, "balance": 475.0,
    }  # fmt: skip
    assert await _daily(db, agent) == [2_500]
    await wait_until(lambda: _has(events, "topup.approval_required"))

    # The agent's own key cannot approve its send, even with the scope; a human's key can.
    own = await hook_client.post(f"/topup/{txn}/approve", headers=agent.headers)
    assert (own.status_code, own.json()["code"]) == (403, 2309)
    approved = await hook_client.post(f"/topup/{txn}/approve", headers=human.headers)
    assert (approved.json()["code"], approved.json()["status"]) == (1001, "delivered")
    assert approved.json()["data"]["voucher_code"].startswith("ATU-TEST-")
    again = await hook_client.post(f"/topup/{txn}/deny", headers=human.headers)
    assert (again.status_code, again.json()["code"]) == (409, 4007)
    await wait_until(lambda: _has(events, "topup.delivered"))
    assert (await _balance(hook_client, agent))["held_cents"] == 0

    # Deny: refunded to the wallet and to the window.
    denied_send = await hook_client.post("/topup/send", json=_send(3_000), headers=agent.headers)
    denied_txn = denied_send.json()["transaction_id"]
    denied = await hook_client.post(f"/topup/{denied_txn}/deny", headers=human.headers)
    assert (denied.json()["code"], denied.json()["status"]) == (1007, "denied")
    assert (await _balance(hook_client, agent))["balance_cents"] == 47_500
    assert await _daily(db, agent) == [2_500]
    await wait_until(lambda: _has(events, "topup.approval_denied"))

    # Expiry: once the hold's time has passed, the worker's sweep refunds the same way.
    expiring = await hook_client.post("/topup/send", json=_send(4_000), headers=agent.headers)
    expiring_txn = expiring.json()["transaction_id"]
    read = await hook_client.get(f"/topup/{expiring_txn}", headers=human.headers)
    expires = datetime.fromisoformat(read.json()["data"]["approval_expires_at"])
    assert expires - utcnow() > timedelta(seconds=running.settings.approval_ttl_seconds - 60)
    assert await expiry.expire_approvals(running.ctx) == 0  # not yet
    async with db.transaction() as conn:  # the day passes
        await conn.execute(
            update(_T)
            .where(_T.c.id == expiring_txn)
            .values(approval_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await expiry.expire_approvals(running.ctx) == 1
    read = await hook_client.get(f"/topup/{expiring_txn}", headers=human.headers)
    assert read.json()["status"] == "expired"
    assert (await _balance(hook_client, agent))["balance_cents"] == 47_500
    assert await _daily(db, agent) == [2_500]
    await wait_until(lambda: _has(events, "topup.approval_expired"))
    late = await hook_client.post(f"/topup/{expiring_txn}/approve", headers=human.headers)
    assert late.json()["code"] == 4007
    await assert_ledger_balanced(db)
    bodies = {e["type"]: e["data"] for e in _verified(receiver, secret)}
    assert bodies["topup.approval_required"]["status"] == "pending_approval"
    assert "approval_expires_at" in bodies["topup.approval_required"]
    assert bodies["topup.approval_denied"]["status"] == "denied"
    assert bodies["topup.approval_expired"]["status"] == "expired"


async def _daily(db: Database, key: MerchantKey) -> list[int]:
    """What the key has spent in its daily windows."""
    rows = await spend_rows(db, key.key_id)
    return [spent for bucket, (spent, _) in rows.items() if bucket.startswith("daily:")]


async def _has(events: Any, kind: str) -> bool:
    return kind in await events()


async def test_approve_racing_deny_has_one_winner(
    db: Database, make_merchant: MakeMerchant, hook_settings: Settings
) -> None:
    agent, human = await _keys(db, make_merchant)
    async with (
        live_server(hook_settings) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
    ):
        held = await http.post("/topup/send", json=_send(5_000), headers=agent.headers)
        txn = held.json()["transaction_id"]
        calls = [
            http.post(f"/topup/{txn}/{'approve' if i % 2 else 'deny'}", headers=human.headers)
            for i in range(50)
        ]
        replies = [r.json() for r in await asyncio.gather(*calls)]
        wins = [r for r in replies if r["success"]]
        assert len(wins) == 1, [r["code"] for r in replies]
        assert {r["code"] for r in replies if not r["success"]} == {4007}
        final = (await http.get(f"/topup/{txn}", headers=human.headers)).json()
        assert final["status"] == wins[0]["status"]
        balance = (await http.get("/balance", headers=agent.headers)).json()["data"]
    async with db.read() as conn:
        kinds = (
            await conn.execute(
                select(_L.c.kind, func.count()).where(_L.c.reference == txn).group_by(_L.c.kind)
            )
        ).all()
    if wins[0]["status"] == "delivered":
        assert dict(kinds) == {"topup_debit": 1, "topup_credit": 1}
        assert balance["balance_cents"] == 45_000
    else:
        assert dict(kinds) == {"topup_debit": 1, "topup_refund": 1}
        assert balance["balance_cents"] == 50_000
    assert balance["held_cents"] == 0
    await assert_ledger_balanced(db)
    assert json.dumps(wins[0]["data"])  # the winner's reply is the top-up as decided


async def test_an_approved_send_to_a_failing_recipient_is_refunded(
    db: Database, make_merchant: MakeMerchant, client: httpx.AsyncClient
) -> None:
    """Staging's ``+fail`` recipient meets the send once it is approved: failed, and refunded to
    the wallet and the key's window."""
    agent, human = await _keys(db, make_merchant)
    held = await client.post("/topup/send", json=_send(2_000, "ann+fail"), headers=agent.headers)
    txn = held.json()["transaction_id"]
    assert await _daily(db, agent) == [2_000]
    approved = await client.post(f"/topup/{txn}/approve", headers=human.headers)
    assert (approved.json()["code"], approved.json()["status"]) == (4004, "failed")
    assert approved.json()["data"]["failure_reason"] == "sandbox recipient set to fail"
    balance = await _balance(client, agent)
    assert (balance["balance_cents"], balance["held_cents"]) == (50_000, 0)
    assert await _daily(db, agent) == [0]
    await assert_ledger_balanced(db)
