"""A held send approved while an upstream is set for its platform goes through that upstream,
as a send does: approved into ``fulfilling`` with its work written in the same plan, then the
inline try (``1001`` with New API's code) or, when the upstream is busy, the worker. On SQLite
and PostgreSQL."""

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from gateway.store.engine import Database
from gateway.store.models import Fulfilment, Topup
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.policies import set_policy
from tests.fixtures.upstreams import NewApiStandIn, send_body, use_newapi
from tests.fixtures.webhooks import events_of
from tests.fixtures.workers import StartWorker

AGENT = {"scopes": ["topup:send", "topup:read"], "approval_above_cents": 1_000}
HUMAN = {"scopes": ["approvals", "topup:read"], "reveal_voucher": True}


async def _held(
    http: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, root: str, cents: int
) -> tuple[MerchantKey, MerchantKey, str]:
    """An agent's send above its approval line, held, with New API set for its platform."""
    agent = await make_merchant("staging", balance_cents=20_000)
    human = await make_merchant(merchant_id=agent.merchant_id)
    await set_policy(db, agent.key_id, AGENT)
    await set_policy(db, human.key_id, HUMAN)
    owner = await make_merchant(merchant_id=agent.merchant_id)
    await use_newapi(http, owner, root)
    held = await http.post("/topup/send", json=send_body(cents), headers=agent.headers)
    assert (held.json()["code"], held.json()["status"]) == (1006, "pending_approval"), held.text
    return agent, human, held.json()["transaction_id"]


async def _work(db: Database, txn: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(Fulfilment).where(Fulfilment.topup_id == txn))).first()


async def test_an_approved_send_is_delivered_through_the_upstream_inline(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    newapi, root = newapi_standin
    agent, human, txn = await _held(fulfil_client, db, make_merchant, root, 2_500)
    assert await _work(db, txn) is None  # nothing upstream while it is held
    assert newapi.redemptions == []

    approved = await fulfil_client.post(f"/topup/{txn}/approve", headers=human.headers)
    body = approved.json()
    assert (approved.status_code, body["code"], body["status"]) == (200, 1001, "delivered")
    [made] = newapi.redemptions
    reference = body["data"]["fulfilment"]["reference"]
    assert body["data"]["fulfilment"]["provider"] == "newapi"
    assert (made["name"], made["quota"]) == (reference, 2_500 * 5_000)
    assert body["data"]["voucher_code"] == made["key"]  # the approver's key reveals
    work = await _work(db, txn)
    assert (work.provider, work.status, work.attempts) == ("newapi", "done", 1)
    [delivered] = await events_of(db, agent.merchant_id, "topup.delivered")
    assert delivered["data"]["fulfilment"] == {"provider": "newapi", "reference": reference}
    # The agent's key reveals nothing: the code is the recipient's.
    read = await fulfil_client.get(f"/topup/{txn}", headers=agent.headers)
    assert read.json()["data"]["status"] == "delivered"
    assert read.json()["data"]["voucher_code"] is None
    balance = (await fulfil_client.get("/balance", headers=agent.headers)).json()["data"]
    assert (balance["balance_cents"], balance["held_cents"]) == (17_500, 0)
    await assert_ledger_balanced(db)


async def test_an_approved_send_the_upstream_did_not_answer_is_finished_by_the_worker(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    start_worker: StartWorker,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    newapi, root = newapi_standin
    agent, human, txn = await _held(fulfil_client, db, make_merchant, root, 1_500)
    newapi.faults.fail_next = 1  # the approval's inline try meets a 503
    approved = await fulfil_client.post(f"/topup/{txn}/approve", headers=human.headers)
    body = approved.json()
    assert (approved.status_code, body["code"], body["status"]) == (202, 1002, "pending")
    assert body["data"]["fulfilment"]["provider"] == "newapi"
    assert newapi.redemptions == []
    work = await _work(db, txn)
    assert (work.status, work.attempts) == ("due", 1)

    await start_worker(fulfilment_retry_schedule="0.1,0.2", fulfilment_timeout_seconds=0.5)

    async def delivered() -> bool:
        async with db.read() as conn:
            found = await conn.execute(select(Topup.status).where(Topup.id == txn))
            return found.scalar_one() == "delivered"

    await wait_until(delivered, within=20)
    [made] = newapi.redemptions
    assert made["quota"] == 1_500 * 5_000
    async with db.read() as conn:
        count = select(func.count()).select_from(Fulfilment).where(Fulfilment.topup_id == txn)
        assert (await conn.execute(count)).scalar_one() == 1
    assert len(await events_of(db, agent.merchant_id, "topup.delivered")) == 1
    await assert_ledger_balanced(db)


async def test_concurrent_approvals_make_one_code(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    """Of ten approvals and ten denials racing, exactly one decision wins; an approval that
    wins makes one code upstream and one work row, a denial none."""
    newapi, root = newapi_standin
    agent, human, txn = await _held(fulfil_client, db, make_merchant, root, 2_000)
    decisions = ["approve", "deny"] * 10
    replies = await asyncio.gather(
        *(fulfil_client.post(f"/topup/{txn}/{d}", headers=human.headers) for d in decisions)
    )
    won = [(d, r.json()["code"]) for d, r in zip(decisions, replies, strict=True)
           if r.status_code < 400]  # fmt: skip
    assert len(won) == 1, [r.json()["code"] for r in replies]
    [(decision, code)] = won
    work = await _work(db, txn)
    balance = (await fulfil_client.get("/balance", headers=agent.headers)).json()["data"]
    if decision == "approve":
        assert code == 1001
        assert len(newapi.redemptions) == 1 and work.status == "done"
        assert balance["balance_cents"] == 18_000
    else:
        assert newapi.redemptions == [] and work is None
        assert balance["balance_cents"] == 20_000
    assert balance["held_cents"] == 0
    await assert_ledger_balanced(db)
