"""Deliveries to brokers (``gateway.webhooks.destinations``): a Redis stream, a RabbitMQ exchange
and a NATS JetStream subject each take a signed event a consumer verifies with
``standardwebhooks``; a broker that is down is retried on the schedule and nothing is lost; an
ordered endpoint keeps its order through the outage."""

import contextlib
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import select
from standardwebhooks import Webhook

from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from tests.fixtures.core import wait_until
from tests.fixtures.destinations import QUICK, failed_attempts, make_destination, number
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.redis import RedisServer
from tests.fixtures.webhooks import emit_test_events
from tests.fixtures.workers import StartWorker

_D = table_of(WebhookDelivery)


def verified(secret: str, body: bytes | str, headers: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    return payload


DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def run_the_docs_consumer(url: str, stream: str, secret: str) -> None:
    """docs/webhooks.md's consumer of a Redis stream, run as written against this one: it
    raises if a signature does not verify."""
    text = DOC.read_text()
    start = text.index("### Verifying a broker's message, in Python")
    [snippet] = re.findall(r"```python\n(.*?)```", text[start:], re.S)[:1]
    snippet = snippet.replace("redis://127.0.0.1:6379/0", f"{url}/0")
    snippet = snippet.replace('"aitopup-events"', repr(stream)).replace('"whsec_..."', repr(secret))
    exec(compile(snippet, str(DOC), "exec"), {})  # noqa: S102  (the docs' own code)


async def stream_entries(redis: Redis, stream: str) -> list[dict[str, str]]:
    entries = await redis.xrange(stream)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def test_a_redis_stream_takes_signed_events_and_a_stopped_broker_loses_none_in_order(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    private_redis: RedisServer,
) -> None:
    stream = f"events-{uuid.uuid4().hex}"
    merchant = await make_merchant()
    made = await make_destination(
        hook_client,
        merchant,
        "redis_stream",
        destination={"url": f"{private_redis.url}/0", "stream": stream, "max_len": 1000},
        ordered=True,
    )
    assert made["type"] == "redis_stream"
    assert made["destination"]["stream"] == stream
    secret = made["secret"]
    await start_worker(**QUICK)
    consumer = Redis.from_url(private_redis.url)
    try:
        await emit_test_events(db, merchant.merchant_id, 3)

        async def three() -> bool:
            return len(await stream_entries(consumer, stream)) == 3

        await wait_until(three, within=20)
        entries = await stream_entries(consumer, stream)
        numbers = [number(verified(secret, e["body"], e)) for e in entries]
        assert numbers == [0, 1, 2]
        assert entries[0]["webhook-id"].startswith("evt_")
        run_the_docs_consumer(private_redis.url, stream, secret)

        # The broker goes away; events written meanwhile wait, retried on the schedule.
        private_redis.stop()
        await emit_test_events(db, merchant.merchant_id, 5)

        async def retried() -> bool:
            return len(await failed_attempts(db, made["id"])) >= 2

        await wait_until(retried, within=20)
        private_redis.start()
        await consumer.aclose()
        consumer = Redis.from_url(private_redis.url)

        async def all_of_them() -> bool:
            return len(await stream_entries(consumer, stream)) == 5

        await wait_until(all_of_them, within=30)
        later = [
            number(verified(secret, e["body"], e)) for e in await stream_entries(consumer, stream)
        ]
        assert later == [0, 1, 2, 3, 4]  # none lost, in order, the stream empty after restart
    finally:
        await consumer.aclose()


AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
NATS_URL = "nats://127.0.0.1:4222"


async def test_a_rabbitmq_exchange_takes_signed_events_and_one_gone_a_while_loses_none(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    import aio_pika

    name = f"aitopup-test-{uuid.uuid4().hex}"
    connection = await aio_pika.connect(AMQP)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="events")
        merchant = await make_merchant()
        made = await make_destination(
            hook_client,
            merchant,
            "rabbitmq",
            destination={"url": AMQP, "exchange": name, "routing_key": "events"},
            ordered=True,
        )
        assert made["destination"]["url"] == "amqp://guest:***@127.0.0.1:5672/%2F"
        secret = made["secret"]
        await start_worker(**QUICK)
        await emit_test_events(db, merchant.merchant_id, 2)
        got: list[int] = []

        async def drain(count: int) -> None:
            async def arrived() -> bool:
                message = await queue.get(fail=False, no_ack=True)
                if message is not None:
                    headers = {k: str(v) for k, v in message.headers.items()}
                    got.append(number(verified(secret, message.body, headers)))
                    assert message.message_id == headers["webhook-id"]
                return len(got) == count

            await wait_until(arrived, within=20)

        await drain(2)
        assert got == [0, 1]

        # The exchange is deleted: publishes are refused, and retried on the schedule.
        await exchange.delete()
        await emit_test_events(db, merchant.merchant_id, 3)

        async def refused() -> bool:
            return len(await failed_attempts(db, made["id"])) >= 2

        await wait_until(refused, within=20)
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT)
        await queue.bind(exchange, routing_key="events")
        await drain(5)
        assert got == [0, 1, 0, 1, 2]  # none lost, in order
        await exchange.delete()
    finally:
        await connection.close()


async def test_a_nats_jetstream_subject_takes_signed_events_and_a_missing_stream_loses_none(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    import nats
    from nats.js.errors import NotFoundError

    tag = uuid.uuid4().hex
    stream, subject = f"AITOPUP_{tag}", f"aitopup.test.{tag}"
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[subject])
        merchant = await make_merchant()
        made = await make_destination(
            hook_client,
            merchant,
            "nats",
            destination={"url": NATS_URL, "subject": subject},
            ordered=True,
        )
        secret = made["secret"]
        await start_worker(**QUICK)
        await emit_test_events(db, merchant.merchant_id, 2)

        async def read_all(count: int) -> list[int]:
            found: list[int] = []

            async def stored() -> bool:
                info = await js.stream_info(stream)
                return bool(info.state.messages == count)

            await wait_until(stored, within=20)
            for seq in range(1, count + 1):
                message = await js.get_msg(stream, seq)
                headers = dict(message.headers or {})
                found.append(number(verified(secret, message.data or b"", headers)))
            return found

        assert await read_all(2) == [0, 1]
        # The stream goes: nothing acknowledges, so the publishes are retried on the schedule.
        await js.delete_stream(stream)
        await emit_test_events(db, merchant.merchant_id, 3)

        async def refused() -> bool:
            return len(await failed_attempts(db, made["id"])) >= 2

        await wait_until(refused, within=20)
        await js.add_stream(name=stream, subjects=[subject])
        assert await read_all(3) == [0, 1, 2]
    finally:
        with contextlib.suppress(NotFoundError):  # a test that failed before making it again
            await js.delete_stream(stream)
        await client.close()


async def test_many_deliveries_at_once_share_one_confirming_channel_and_each_arrives(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    import aio_pika

    name = f"aitopup-test-{uuid.uuid4().hex}"
    connection = await aio_pika.connect(AMQP)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange)
        merchant = await make_merchant()
        made = await make_destination(
            hook_client, merchant, "rabbitmq", destination={"url": AMQP, "exchange": name}
        )
        await start_worker(**QUICK)
        ids = await emit_test_events(db, merchant.merchant_id, 200)

        async def all_confirmed() -> bool:
            async with db.read() as conn:
                rows = await conn.execute(select(_D.c.status).where(_D.c.endpoint_id == made["id"]))
                return [row.status for row in rows].count("succeeded") == len(ids)

        await wait_until(all_confirmed, within=60)
        seen: list[str] = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            seen.append(str(message.message_id))
        assert len(seen) == 200 and len(set(seen)) == 200  # each once: none lost, none twice
        await exchange.delete()
    finally:
        await connection.close()
