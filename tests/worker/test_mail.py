"""The mail outbox end to end: a real SMTP server (aiosmtpd) receives the voucher e-mail, the
worker retries what SMTP refuses, staging mail never reaches SMTP, and a flushed Redis loses no
mail. On SQLite and PostgreSQL."""

import asyncio
import uuid

import httpx
from redis.asyncio import Redis
from sqlalchemy import select, update

from gateway.store.engine import Database
from gateway.store.models import Mail, Merchant, table_of
from gateway.store.queue import lease
from gateway.values.clock import utcnow
from tests.fixtures.clock import Stepped
from tests.fixtures.core import wait_until
from tests.fixtures.mail import Inbox, html_of, mails_of, settled, smtp, text_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy
from tests.fixtures.workers import StartWorker
from worker.mail import MAILS

_M = table_of(Mail)
_MER = table_of(Merchant)
SEND = {"platform": "claude", "amount_cents": 1234, "recipient_email": "Ann@Example.com"}


async def step_through(clock: Stepped, db: Database, merchant_id: str) -> None:
    """Once the merchant's mail has recorded each refused try, ``clock`` moved past the delay
    before the next (``smtp``'s schedule): the schedule walked without sleeping it."""
    for tried in (1, 2):

        async def recorded(count: int = tried) -> bool:
            return any(row.attempts >= count for row in await mails_of(db, merchant_id))

        await wait_until(recorded, interval=0.005)
        clock.advance(0.2)


async def test_a_live_delivery_mails_the_recipient_text_and_html(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
) -> None:
    await start_worker(**smtp(smtp_server))
    merchant = await make_merchant("live", balance_cents=10_000)
    sent = await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200, sent.text
    voucher = sent.json()["data"]["voucher_code"]
    [row] = await settled(db, merchant.merchant_id, "sent")
    assert row.kind == "voucher" and row.attempts == 1 and row.last_error is None
    assert row.to_sealed is None  # rendered from the sealed top-up: no copy of the address
    [message] = smtp_server.received
    assert message["To"] == "ann@example.com"
    async with db.read() as conn:
        name = (
            await conn.execute(select(_MER.c.name).where(_MER.c.id == merchant.merchant_id))
        ).scalar_one()
    assert name in message["From"]
    assert message["Subject"].strip() == f"{name} sent you $12.34 of Claude credit"
    text, html = text_of(message), html_of(message)
    for body in (text, html):
        assert voucher in body
        assert "$12.34" in body
        assert "/dashboard/recipient/" in body
        assert (
            "ann@example.com" not in body.split("/dashboard/recipient/")[1][:600]
        )  # the link hides the address


async def test_a_stored_name_past_the_rule_of_names_never_reaches_a_header(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
) -> None:
    """A name stored before the rule (a link, a line break) is not the From's: the product's is."""
    await start_worker(**smtp(smtp_server))
    merchant = await make_merchant("live", balance_cents=10_000)
    async with db.transaction() as conn:
        await conn.execute(
            update(_MER)
            .where(_MER.c.id == merchant.merchant_id)
            .values(
                name="Claim at evil.example", display_name="https://evil.example\r\nBcc: x@y.io"
            )
        )
    sent = await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200, sent.text
    await settled(db, merchant.merchant_id, "sent")
    [message] = smtp_server.received
    assert message["From"].startswith("aiTopUp <") and "evil" not in message["From"]
    assert message["Bcc"] is None
    assert message["Subject"].strip() == "aiTopUp sent you $12.34 of Claude credit"
    for body in (text_of(message), html_of(message)):
        assert "evil" not in body


async def test_smtp_refusals_are_retried_then_sent_or_failed(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
) -> None:
    clock = Stepped()
    await start_worker(seams={"clock": clock}, **smtp(smtp_server))
    merchant = await make_merchant("live", balance_cents=10_000)
    smtp_server.refuse = 2
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    await step_through(clock, db, merchant.merchant_id)
    [row] = await settled(db, merchant.merchant_id, "sent")
    assert row.attempts == 3 and smtp_server.refused == 2 and len(smtp_server.received) == 1

    other = await make_merchant("live", balance_cents=10_000)
    smtp_server.refuse = 100
    await hook_client.post("/topup/send", json=SEND, headers=other.headers)
    await step_through(clock, db, other.merchant_id)
    [row] = await settled(db, other.merchant_id, "failed")
    assert row.attempts == 3  # the schedule's three attempts, then failed with the reason
    assert row.last_error.startswith("SMTP 451")
    assert len(smtp_server.received) == 1


async def test_staging_mail_never_reaches_smtp(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
    redis_url: str,
) -> None:
    running = await start_worker(**smtp(smtp_server))
    merchant = await make_merchant("staging")
    sent = await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200
    [row] = await mails_of(db, merchant.merchant_id)
    assert row.status == "staged"
    # Due, woken for and looked at by a running worker: never leased.
    running.service.runner.wake_kind(MAILS.name)
    assert await db.run(lambda tx: lease(tx, MAILS.queue, utcnow(), 60, 100)) == []
    [row] = await mails_of(db, merchant.merchant_id)
    assert row.status == "staged" and row.attempts == 0
    assert smtp_server.received == [] and smtp_server.refused == 0


async def test_notify_recipient_false_and_the_merchant_switch_write_no_mail(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    quiet = await hook_client.post(
        "/topup/send", json={**SEND, "notify_recipient": False}, headers=merchant.headers
    )
    assert quiet.status_code == 200
    assert await mails_of(db, merchant.merchant_id) == []
    async with db.transaction() as conn:
        await conn.execute(
            update(_MER).where(_MER.c.id == merchant.merchant_id).values(notify_recipients=False)
        )
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert await mails_of(db, merchant.merchant_id) == []
    async with db.transaction() as conn:
        await conn.execute(
            update(_MER).where(_MER.c.id == merchant.merchant_id).values(notify_recipients=True)
        )
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert len(await mails_of(db, merchant.merchant_id)) == 1


async def test_an_approved_send_mails_once_and_keeps_notify_false(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    await set_policy(db, merchant.key_id, {"approval_above_cents": 100})
    held = await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    quiet = await hook_client.post(
        "/topup/send", json={**SEND, "notify_recipient": False}, headers=merchant.headers
    )
    assert held.status_code == quiet.status_code == 202
    assert await mails_of(db, merchant.merchant_id) == []  # held: nobody is told yet
    approver = await make_merchant("live", merchant_id=merchant.merchant_id)
    for txn in (held, quiet):
        approved = await hook_client.post(
            f"/topup/{txn.json()['transaction_id']}/approve", headers=approver.headers
        )
        assert approved.status_code == 200, approved.text
    [row] = await mails_of(db, merchant.merchant_id)
    assert row.topup_id == held.json()["transaction_id"] and row.status == "queued"


async def test_a_flushed_redis_loses_no_mail(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
    redis_url: str,
) -> None:
    merchant = await make_merchant("live", balance_cents=100_000)
    # An address of this test's own: a worker also sends what earlier tests left queued.
    mine = {**SEND, "recipient_email": f"flush-{uuid.uuid4().hex}@example.com"}
    for _ in range(5):
        await hook_client.post("/topup/send", json=mine, headers=merchant.headers)
    # The wakes are gone before any worker heard them; the rows stay queued.
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    await redis.aclose()
    async with db.transaction() as conn:  # as if written a while ago
        await conn.execute(
            update(_M)
            .where(_M.c.merchant_id == merchant.merchant_id)
            .values(next_attempt_at=utcnow().replace(year=2020))
        )
    await start_worker(**smtp(smtp_server))
    await settled(db, merchant.merchant_id, "sent", count=5)
    to_mine = [m for m in smtp_server.received if m["To"] == mine["recipient_email"]]
    assert len(to_mine) == 5  # each mail once


async def test_two_workers_send_each_mail_once(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
) -> None:
    """Two workers woken for the same mails at once: each mail is leased by one of them and
    sent once."""
    merchant = await make_merchant("live", balance_cents=100_000)
    mine = [f"pair-{i}-{uuid.uuid4().hex}@example.com" for i in range(12)]
    await asyncio.gather(
        *(
            hook_client.post(
                "/topup/send", json={**SEND, "recipient_email": address}, headers=merchant.headers
            )
            for address in mine
        )
    )
    await asyncio.gather(start_worker(**smtp(smtp_server)), start_worker(**smtp(smtp_server)))
    # Two workers and the SMTP server share this one event loop: a loaded machine slows all three.
    rows = await settled(db, merchant.merchant_id, "sent", count=12, within=60)
    received = sorted(m["To"] for m in smtp_server.received if m["To"] in mine)
    assert received == sorted(mine)  # each once
    assert [r.attempts for r in rows] == [1] * 12
