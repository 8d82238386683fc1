"""The worker finishes what the send's inline try did not: retries with backoff, then failed
and refunded; a try killed after the upstream answered issues no second code; concurrent sends
through OpenRouter converge on each recipient's total. On SQLite and PostgreSQL."""

import asyncio
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from gateway.store.engine import Database
from gateway.store.models import Topup, UpstreamKey
from gateway.upstreams import work
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client, wait_until
from tests.fixtures.dying_worker import held_ids
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.upstreams import (
    MakeUpstreamMerchant,
    NewApiStandIn,
    OpenRouterStandIn,
    send_body,
    use_openrouter,
)
from tests.fixtures.webhooks import events_of
from tests.fixtures.workers import StartWorker, spawn_worker
from worker import fulfil

_WORKER = {"fulfilment_retry_schedule": "0.1,0.2", "fulfilment_timeout_seconds": 0.5}


async def _statuses(db: Database, merchant_id: str) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(Topup.status, func.count())
            .where(Topup.merchant_id == merchant_id)
            .group_by(Topup.status)
        )
        return {r[0]: r[1] for r in rows}


async def test_upstream_down_through_every_retry_fails_and_refunds(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    db: Database,
    start_worker: StartWorker,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    newapi, _ = newapi_standin
    merchant = await newapi_merchant(balance_cents=5_000)
    newapi.faults.down = True
    sent = await fulfil_client.post("/topup/send", json=send_body(900), headers=merchant.headers)
    body = sent.json()
    assert (sent.status_code, body["code"], body["status"]) == (202, 1002, "pending"), sent.text
    assert body["data"]["fulfilment"]["provider"] == "newapi"
    held = (await fulfil_client.get("/balance", headers=merchant.headers)).json()["data"]
    assert (held["balance_cents"], held["held_cents"]) == (4_100, 900)

    await start_worker(**_WORKER)

    async def failed() -> bool:
        return (await _statuses(db, merchant.merchant_id)) == {"failed": 1}

    await wait_until(failed, within=20)
    after = (await fulfil_client.get("/balance", headers=merchant.headers)).json()["data"]
    assert (after["balance_cents"], after["held_cents"]) == (5_000, 0)
    assert newapi.faults.calls == 3  # the inline try, then two retries: the schedule's three
    assert newapi.redemptions == []
    [failure] = await events_of(db, merchant.merchant_id, "topup.failed")
    assert failure["data"]["failure_reason"] == (
        "failed upstream: New API answered with an error of its own"
    )
    assert failure["data"]["fulfilment"]["provider"] == "newapi"
    await assert_ledger_balanced(db)


async def _stopped(proc: "subprocess.Popen[bytes]", within: float) -> int:
    return await asyncio.to_thread(proc.wait, within)


async def test_a_worker_killed_after_the_upstream_answered_issues_no_second_code(
    fulfil_client: httpx.AsyncClient,
    fulfil_settings: Settings,
    newapi_merchant: MakeUpstreamMerchant,
    db: Database,
    redis_url: str,
    newapi_standin: tuple[NewApiStandIn, str],
    tmp_path: Path,
) -> None:
    newapi, root = newapi_standin
    merchant = await newapi_merchant(balance_cents=100_000)
    newapi.faults.fail_next = 50  # every inline try fails: the worker does the rest
    amounts = [random.randint(1, 400) for _ in range(50)]
    txns = []
    for i, cents in enumerate(amounts):
        sent = await fulfil_client.post(
            "/topup/send", json=send_body(cents, f"r{i}@example.com"), headers=merchant.headers
        )
        assert sent.json()["code"] == 1002, sent.text
        txns.append(sent.json()["transaction_id"])
    redis = Redis.from_url(redis_url)
    await redis.flushall()  # no job of an earlier test
    await redis.aclose()

    held = tmp_path / "held"
    # A second for each call, on a machine the stand-in shares: a lease of 8 s.
    env = {
        "AITOPUP_FULFILMENT_RETRY_SCHEDULE": "0.1,0.2,0.4,0.8",
        "AITOPUP_FULFILMENT_TIMEOUT_SECONDS": "1",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # Real processes, each SIGKILLed by itself with its tries held after New API answered
        # and before their commit, a sweep's worth at a time, until every top-up met it once.
        while len(done := held_ids(held)) < 50:
            hold = min(fulfil.CONCURRENCY, 50 - len(done))
            dying = spawn_worker(
                fulfil_settings,
                tmp_path,
                f"dying{len(procs)}",
                module="tests.fixtures.dying_worker",
                DYING_WORKER_HOLD=str(hold),
                DYING_WORKER_HELD=str(held),
                **env,
            )
            procs.append(dying)
            assert await _stopped(dying, 60) == -signal.SIGKILL
            assert len(held_ids(held)) == len(done) + hold
        # Each top-up killed once at that point.
        assert sorted(held_ids(held)) == sorted(work.reference(t) for t in txns)
        assert len(newapi.redemptions) == 50  # made before each kill
        # None recorded by the process that made its code. A later dying process may have
        # leased an earlier one's top-ups once their lease lapsed (a busy machine starts a
        # process slowly) and carried them on with the code New API had made, as the fresh
        # worker does below; the last process's, killed just now, are all still pending.
        statuses = await _statuses(db, merchant.merchant_id)
        assert set(statuses) <= {"pending", "delivered"} and sum(statuses.values()) == 50
        assert statuses.get("pending", 0) >= hold, statuses

        procs.append(spawn_worker(fulfil_settings, tmp_path, "fresh", **env))

        async def delivered() -> bool:
            return (await _statuses(db, merchant.merchant_id)) == {"delivered": 50}

        await wait_until(delivered, within=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                await _stopped(proc, 10)
    assert len(newapi.redemptions) == 50  # the fresh worker found each code, made none
    by_name = {r["name"]: r for r in newapi.redemptions}
    assert len(by_name) == 50
    user, token = newapi.add_user()
    headers = {"Authorization": token, "New-Api-User": str(user)}
    async with local_client(base_url=root) as far:
        for txn, cents in zip(txns, amounts, strict=True):
            shown = (await fulfil_client.get(f"/topup/{txn}", headers=merchant.headers)).json()
            code = shown["data"]["voucher_code"]
            made = by_name[txn.removeprefix("txn_")[:20]]
            assert (code, made["quota"]) == (made["key"], cents * 5_000)
            first = await far.post("/api/user/topup", json={"key": code}, headers=headers)
            assert first.json()["success"] is True
            second = await far.post("/api/user/topup", json={"key": code}, headers=headers)
            assert second.json()["success"] is False
    assert newapi.users[user]["quota"] == sum(amounts) * 5_000
    balance = (await fulfil_client.get("/balance", headers=merchant.headers)).json()["data"]
    assert (balance["balance_cents"], balance["held_cents"]) == (100_000 - sum(amounts), 0)
    delivered_events = await events_of(db, merchant.merchant_id, "topup.delivered")
    assert sorted(e["data"]["transaction_id"] for e in delivered_events) == sorted(txns)
    await assert_ledger_balanced(db)


async def test_concurrent_sends_converge_on_each_recipients_total(
    fulfil_settings: Settings,
    make_merchant: MakeMerchant,
    db: Database,
    start_worker: StartWorker,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, root = openrouter_standin
    merchant = await make_merchant("staging", balance_cents=1_000_000)
    recipients = [f"agent{i}@example.com" for i in range(10)]
    sends: list[tuple[str, int]] = [
        (recipients[i % 10], random.randint(1, 900)) for i in range(100)
    ]
    await start_worker(**_WORKER)
    async with (
        live_server(fulfil_settings) as root_url,
        local_client(base_url=f"{root_url}/api/public/v1", timeout=30) as http,
    ):
        await use_openrouter(http, merchant, root)

        async def send(email: str, cents: int) -> Any:
            answer = await http.post(
                "/topup/send", json=send_body(cents, email), headers=merchant.headers
            )
            return answer.json()

        replies = await asyncio.gather(*(send(e, c) for e, c in sends))
    assert {r["code"] for r in replies} <= {1001, 1002}, replies

    async def delivered() -> bool:
        return (await _statuses(db, merchant.merchant_id)) == {"delivered": 100}

    await wait_until(delivered, within=60)
    # One spendable key per recipient; a making whose answer was lost under this load may
    # have left another, disabled before the key that was kept was made.
    enabled = [k for k in openrouter.keys.values() if not k["disabled"]]
    assert len(enabled) == 10
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(Topup.recipient_email, func.sum(Topup.amount_cents))
                .where(Topup.merchant_id == merchant.merchant_id)
                .group_by(Topup.recipient_email)
            )
        ).all()
    totals = {email: int(total) for email, total in rows}
    assert totals == {e: sum(c for r, c in sends if r == e) for e in recipients}
    by_name = {k["name"]: k for k in enabled}
    async with db.read() as conn:
        keyed = (
            await conn.execute(
                select(UpstreamKey).where(UpstreamKey.merchant_id == merchant.merchant_id)
            )
        ).all()
    assert len(keyed) == 10
    for row in keyed:
        key = by_name[row.label]
        assert key["limit"] == pytest.approx(totals[row.recipient_email] / 100)
        assert row.limit_cents == totals[row.recipient_email]
    await assert_ledger_balanced(db)
