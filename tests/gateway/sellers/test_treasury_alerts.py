"""The operator told of its treasury's float below its level, on both stores: once per fall
below it, however many payments follow (the rail marked in the payment's transaction, told by
the worker's ``treasury_alerts``), again only once the available is back above the level by a
tenth of the float and falls again; setting the rail re-arms it. The mail reaches a real SMTP
server through the worker's mail lane. Paid in Tally, the tests' own protocol."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from gateway.sellers import treasury_alerts
from gateway.store.engine import Database
from gateway.store.models import Mail, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.clock import Stepped
from tests.fixtures.commands import aitopup
from tests.fixtures.core import TEST_SECRET, wait_until
from tests.fixtures.mail import Inbox, text_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.seller_payments import pay
from tests.fixtures.tally_payer import TallyPayer
from tests.fixtures.treasury import RAIL, mine, paying_merchant, used
from tests.fixtures.workers import StartWorker
from worker.service import worker_settings
from worker.treasury import treasury_alerts_job

SEALER = Sealer(TEST_SECRET.encode())
OPERATORS = "ops@aitopup.example, treasurer@aitopup.example"
_M = table_of(Mail)


async def _told(db: Database, settings: Settings) -> list[str]:
    """The worker's run: the mails it wrote."""
    return await treasury_alerts.tell_low(db, SEALER, settings, utcnow())


async def _kinds(db: Database, ids: list[str]) -> list[tuple[str, str]]:
    async with db.read() as conn:
        found = await conn.execute(select(_M.c.kind, _M.c.status).where(_M.c.id.in_(ids)))
        return sorted((kind, status) for kind, status in found.all())


async def _state(admin_client: httpx.AsyncClient) -> dict[str, Any]:
    return mine((await admin_client.get("/treasury")).json()["data"])


async def test_a_float_below_its_level_tells_the_operator_once_until_it_climbs_back(
    client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    told = settings.model_copy(update={"operator_emails": OPERATORS})
    merchant = await paying_merchant(make_merchant, db, 1_000)
    # A float of 100, its level 50: told again once 60 is available (50 + a tenth of 100).
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 100, "low_cents": 50})
    assert set_.status_code == 200, set_.text
    paid = [await pay(client, merchant, f"low-{n}") for n in range(3)]
    assert [p.status_code for p in paid] == [201] * 3, paid[-1].text
    first = await _told(db, told)
    assert await _kinds(db, first) == [("treasury_low", "queued")] * 2  # one per address
    state = await _state(admin_client)
    assert (state["available_cents"], state["low"]) == (25, True)
    assert state["low_told_at"] is not None
    # More payments below the level, and the worker's next runs: not told again.
    assert (await pay(client, merchant, "low-3")).status_code == 201
    assert await _told(db, told) == []

    # The sellers use three of them: 25, 50, then 75 available; the alert re-arms at 60 only.
    clock = Stepped()
    for n, (available, armed) in enumerate(((25, False), (50, False), (75, True))):
        payment_id = paid[n].json()["data"]["id"]
        tally.uses[f"ref_{payment_id}"] = ("used", 25)
        await used(db, settings, payment_id, clock)
        assert await _told(db, told) == []
        state = await _state(admin_client)
        assert state["available_cents"] == available
        assert (state["low_told_at"] is None) == armed, (n, state)

    # Below the level again: told again, once.
    assert [(await pay(client, merchant, f"again-{n}")).status_code for n in range(2)] == [201] * 2
    again = await _told(db, told)
    assert len(again) == 2 and set(again).isdisjoint(first)
    assert await _told(db, told) == []
    # The operator setting the rail re-arms it: still below, it is told at the next run.
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 100, "low_cents": 50})
    assert set_.status_code == 200, set_.text
    assert (await _state(admin_client))["low_told_at"] is None
    assert len(await _told(db, told)) == 2


async def test_without_operator_addresses_the_alert_is_the_log_and_the_reads(
    admin_client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tmp_path: Path,
    rail: None,
) -> None:
    assert settings.operator_addresses == ()
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 10, "low_cents": 20})
    assert set_.status_code == 200, set_.text
    assert await _told(db, settings) == []  # no mail: none to send it to
    state = await _state(admin_client)
    assert state["low"] is True and state["low_told_at"] is not None
    code, out, err = await aitopup(settings, tmp_path, "treasury")
    assert code == 0, err
    lines = out.splitlines()
    mine = lines.index(
        "staging tally: float 10, out 0, available 10 LOW; paid out 0, used 0, released 0 cents"
    )
    assert lines[mine + 1] == f"  below its level: the operator told at {state['low_told_at']}"


async def test_the_operators_mail_reaches_smtp_through_the_worker(
    admin_client: httpx.AsyncClient,
    db: Database,
    start_worker: StartWorker,
    smtp_server: Inbox,
    rail: None,
) -> None:
    running = await start_worker(
        smtp_url=SecretStr(smtp_server.url), operator_emails="ops@aitopup.example"
    )
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 10, "low_cents": 20})
    assert set_.status_code == 200, set_.text
    assert await treasury_alerts_job(running.ctx) == 1  # the worker's job, as ARQ runs it
    assert await treasury_alerts_job(running.ctx) == 0

    async def sent() -> bool:
        return len(smtp_server.received) == 1

    await wait_until(sent, within=10)
    [message] = smtp_server.received
    assert message["To"] == "ops@aitopup.example"
    assert message["Subject"].strip() == "Treasury float low: staging tally"
    text = text_of(message)
    assert "10 cents available of a float of 10 (level 20), 0 cents out" in text
    assert "/api/admin/v1/treasury" in text


async def test_two_workers_running_the_alert_together_tell_it_once(
    admin_client: httpx.AsyncClient, db: Database, settings: Settings, rail: None
) -> None:
    told = settings.model_copy(update={"operator_emails": OPERATORS})
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 10, "low_cents": 20})
    assert set_.status_code == 200, set_.text
    runs = await asyncio.gather(*(_told(db, told) for _ in range(4)))
    assert sorted(len(run) for run in runs) == [0, 0, 0, 2]  # one run's, one per address


def test_the_worker_runs_the_alerts_each_minute_and_the_reconciliation_on_its_schedule(
    settings: Settings,
) -> None:
    jobs = {job.name: job for job in worker_settings(settings)["cron_jobs"]}
    assert jobs["treasury_alerts"].minute is None  # every minute
    assert jobs["treasury_reconcile"].minute == jobs["reconcile_orders"].minute


async def test_a_fall_below_the_level_the_worker_did_not_see_is_told_all_the_same(
    client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    """The payment that took the float below its level marked the rail: the sellers used
    enough to climb back before the worker's run, and it tells the fall once, then re-arms."""
    told = settings.model_copy(update={"operator_emails": "ops@aitopup.example"})
    merchant = await paying_merchant(make_merchant, db, 1_000)
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 100, "low_cents": 50})
    assert set_.status_code == 200, set_.text
    paid = [await pay(client, merchant, f"dip-{n}") for n in range(3)]
    clock = Stepped()
    for reply in paid[:2]:
        payment_id = reply.json()["data"]["id"]
        tally.uses[f"ref_{payment_id}"] = ("used", 25)
        await used(db, settings, payment_id, clock)
    state = await _state(admin_client)
    assert (state["available_cents"], state["low"]) == (75, False)
    assert len(await _told(db, told)) == 1
    assert await _told(db, told) == []  # re-armed by this run: 75 is past 60
    assert (await _state(admin_client))["low_told_at"] is None
