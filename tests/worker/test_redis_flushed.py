"""Redis flushed mid-load loses nothing of any kind of work: webhook deliveries, mail and upstream
work all happen, each once, because the workers take them from their rows, not from Redis. On
SQLite and PostgreSQL."""

import asyncio
import json
import uuid

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import func, select

from gateway.store.engine import Database
from gateway.store.models import Mail, Topup
from tests.fixtures.core import wait_until
from tests.fixtures.mail import Inbox
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.upstreams import MakeUpstreamMerchant, NewApiStandIn, send_body
from tests.fixtures.webhooks import Receiver, make_endpoint
from tests.fixtures.workers import StartWorker

ROUNDS = 4  # of sends, with Redis flushed after each
EACH = 5


async def _statuses(db: Database, merchant_id: str) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(Topup.status, func.count())
            .where(Topup.merchant_id == merchant_id)
            .group_by(Topup.status)
        )
        return {r[0]: r[1] for r in rows}


async def _mails(db: Database, merchant_id: str) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(Mail.status, func.count())
            .where(Mail.merchant_id == merchant_id)
            .group_by(Mail.status)
        )
        return {r[0]: r[1] for r in rows}


async def _send(http: httpx.AsyncClient, merchant: MerchantKey, email: str) -> str:
    reply = await http.post("/topup/send", json=send_body(100, email), headers=merchant.headers)
    assert reply.status_code in (200, 202), reply.text
    return str(reply.json()["transaction_id"])


async def test_a_flushed_redis_loses_no_delivery_mail_or_upstream_work(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    receiver: Receiver,
    smtp_server: Inbox,
    db: Database,
    redis_url: str,
) -> None:
    newapi, _ = newapi_standin
    # Upstream work and webhooks: a staging merchant whose sends go through New API, each
    # inline try refused, so the worker fulfils them all; its endpoint hears every delivery.
    upstream = await newapi_merchant(balance_cents=100_000)
    await make_endpoint(fulfil_client, upstream, receiver.url)
    newapi.faults.fail_next = ROUNDS * EACH
    # Mail: a live merchant's voucher mails, sent over SMTP.
    mailing = await make_merchant("live", balance_cents=100_000)
    await start_worker(
        smtp_url=SecretStr(smtp_server.url),
        # Short, and many tries: a try a busy machine slows past its timeout is tried again,
        # so what this test counts is loss, never a slow try given up.
        mail_retry_schedule="0,0.2,0.2,0.5,1,2",
        fulfilment_retry_schedule="0.1,0.2,0.5,1,2",
        fulfilment_timeout_seconds=5,
    )
    redis = Redis.from_url(redis_url)
    tag = uuid.uuid4().hex
    sent: list[str] = []
    addresses: list[str] = []
    try:
        for n in range(ROUNDS):
            emails = [f"flush-{tag}-{n}-{i}@example.com" for i in range(EACH)]
            addresses += emails
            sent += await asyncio.gather(*(_send(fulfil_client, upstream, e) for e in emails))
            await asyncio.gather(*(_send(fulfil_client, mailing, e) for e in emails))
            await redis.flushall()  # every wake, lock and counter of the moment: gone
    finally:
        await redis.aclose()

    seen: dict[str, object] = {}

    async def all_done() -> bool:
        seen["top-ups"] = await _statuses(db, upstream.merchant_id)
        seen["mails"] = await _mails(db, mailing.merchant_id)
        seen["webhooks"] = len(receiver.ids())
        return (
            seen["top-ups"] == {"delivered": ROUNDS * EACH}
            and seen["mails"] == {"sent": ROUNDS * EACH}
            and len(receiver.ids()) >= ROUNDS * EACH
        )

    try:
        await wait_until(all_done, within=60)
    except AssertionError:
        raise AssertionError(f"not all work done within 60 s: {seen}") from None
    # Each once: one code a top-up at New API, one mail an address, one event a top-up.
    assert len({r["name"] for r in newapi.redemptions}) == len(newapi.redemptions) == len(sent)
    received = sorted(m["To"] for m in smtp_server.received if m["To"] in addresses)
    assert received == sorted(addresses)
    delivered = {
        json.loads(r.body)["data"]["transaction_id"]
        for r in receiver.received
        if r.headers["x-aitopup-event"] == "topup.delivered"
    }
    assert delivered == set(sent)
