"""Deliveries to brokers: one worker process against a bare loop of the same client, in the same
run, per destination type (RabbitMQ, NATS JetStream, a Redis stream, and SQS as ``moto``'s
server plays it).

(a) deliveries per second of one ``python -m worker`` process publishing test events to the
broker, each acknowledged (a publisher confirm, a JetStream ack, ``XADD``'s id), beside a bare
loop of the same client (aio-pika, nats-py, redis-py, aiobotocore) publishing the same signed
message with the same acknowledgement awaited, as many at once as the HTTP bench's bare loops
(``deliveries.CONCURRENCY``);
(b) event-to-ack latency p50/p99 at a steady ``RATE`` events a second (SQS: 20, and a tenth of
the throughput's count, what moto keeps up with): from the commit of the event to the broker's
acknowledgement of its publish, as the attempt log records it (the attempt's start plus its
duration).

Each broker is the machine's own (``AITOPUP_BENCH_AMQP_URL``, ``AITOPUP_BENCH_NATS_URL``,
``AITOPUP_BENCH_STREAM_REDIS_URL``), under names of the run's own: an exchange and an exclusive
queue bound to it, a JetStream stream (in memory) and its subject, a stream key; each removed at
the end. SQS is a ``moto_server`` process of the run's own, and a queue in it.
``AITOPUP_BENCH_BROKERS`` names the types measured (commas between). A broker that does not
answer is a row that missed, and the others still run.

``python -m bench.destinations``: on SQLite in a temporary folder, then on a fresh PostgreSQL
database when ``AITOPUP_BENCH_POSTGRES_URL`` (default: the local server) answers.
"""

import asyncio
import contextlib
import os
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway import outbox
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.store.models import DeliveryAttempt, WebhookDelivery, table_of
from gateway.values.clock import new_id, utcnow
from gateway.webhooks.destinations import saving
from keys import Sealer, decode_webhook_secret

from .deliveries import (
    CONCURRENCY,
    SEALING,
    _emit,
    _merchant,
    _percentile,
    _signed,
    _steady,
    labelled,
    worker_bench,
)
from .endpoints import add_endpoint
from .load import collector_off
from .report import Row, run_alone
from .servers import each_store, free_port, process

__all__ = ["run"]

BROKERS = [
    b
    for b in os.environ.get("AITOPUP_BENCH_BROKERS", "rabbitmq,nats,redis_stream,sqs").split(",")
    if b
]
AMQP_URL = os.environ.get("AITOPUP_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
NATS_URL = os.environ.get("AITOPUP_BENCH_NATS_URL", "nats://127.0.0.1:4222")
STREAM_REDIS_URL = os.environ.get("AITOPUP_BENCH_STREAM_REDIS_URL", "redis://127.0.0.1:6379/0")
THROUGHPUT_DELIVERIES = int(os.environ.get("AITOPUP_BENCH_BROKER_DELIVERIES", "3000"))
ROUNDS = int(os.environ.get("AITOPUP_BENCH_ROUNDS", "5"))
WARM_UP = int(os.environ.get("AITOPUP_BENCH_WARM_UP", "500"))
RATE = 200
STEADY_SECONDS = float(os.environ.get("AITOPUP_BENCH_STEADY_SECONDS", "10"))
# How often the broker's count is read while a run is waited for: the figure's error is at most
# this, a few per cent of a round of the default size.
POLL_SECONDS = 0.025
ROUTING_KEY = "events"
Signed = list[tuple[bytes, dict[str, str]]]


class _Target:
    """One broker under names of the run's own: the endpoint's destination object, how many
    messages it holds, emptying it, and the bare client's publish loop."""

    name = ""
    client = ""
    destination: dict[str, Any]
    share = 1.0  # of ``THROUGHPUT_DELIVERIES`` a round
    rate = RATE  # the steady rate of the latency's run

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def open(self) -> None:
        raise NotImplementedError

    async def count(self) -> int:
        raise NotImplementedError

    async def clear(self) -> None:
        raise NotImplementedError

    async def bare(self, messages: Signed) -> float:
        """``messages`` published by the bare client, ``CONCURRENCY`` at once, each
        acknowledged; a second's worth, after a warm-up on the same connection."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def wait_for(self, count: int, within: float) -> None:
        deadline = time.monotonic() + within
        while (held := await self.count()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: {held} of {count} arrived within {within:g}s")
            await asyncio.sleep(POLL_SECONDS)


async def _lanes(
    messages: Signed, publish: Callable[[bytes, dict[str, str]], Awaitable[Any]]
) -> float:
    queue = iter(messages)

    async def lane() -> None:
        for body, headers in queue:
            await publish(body, headers)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return len(messages) / (time.perf_counter() - started)


def _headers(headers: dict[str, str]) -> dict[str, str]:
    """As the worker's message carries them: lower-cased (``Broker.deliver``)."""
    return {name.lower(): value for name, value in headers.items()}


class _RabbitMq(_Target):
    name, client = "rabbitmq", "aio-pika"

    async def open(self) -> None:
        import aio_pika

        self._exchange = f"aitopup-bench-{uuid.uuid4().hex}"
        self._connection = await aio_pika.connect(AMQP_URL)
        self._channel = await self._connection.channel()
        exchange = await self._channel.declare_exchange(
            self._exchange, aio_pika.ExchangeType.DIRECT
        )
        self._queue = await self._channel.declare_queue(self._exchange, exclusive=True)
        await self._queue.bind(exchange, routing_key=ROUTING_KEY)
        self.destination = {"url": AMQP_URL, "exchange": self._exchange, "routing_key": ROUTING_KEY}

    async def count(self) -> int:
        declared = await self._queue.declare()
        return int(declared.message_count or 0)

    async def clear(self) -> None:
        await self._queue.purge()

    async def bare(self, messages: Signed) -> float:
        import aio_pika

        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange(self._exchange, ensure=False)

            async def publish(body: bytes, headers: dict[str, str]) -> None:
                kept = _headers(headers)
                await exchange.publish(
                    aio_pika.Message(
                        body,
                        headers=dict(kept),
                        message_id=kept["webhook-id"],
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=ROUTING_KEY,
                    mandatory=True,
                )

            return await _lanes(messages, publish)
        finally:
            await connection.close()

    async def close(self) -> None:
        try:  # on a channel of its own: a failure of the run may have closed the first
            channel = await self._connection.channel()
            await channel.exchange_delete(self._exchange)
        finally:
            await self._connection.close()


class _Nats(_Target):
    name, client = "nats", "nats-py"

    async def open(self) -> None:
        import nats
        from nats.js.api import StorageType

        tag = uuid.uuid4().hex
        self._stream, self._subject = f"AITOPUP_BENCH_{tag}", f"aitopup.bench.{tag}"
        self._nc = await nats.connect(NATS_URL)
        self._js = self._nc.jetstream()
        await self._js.add_stream(
            name=self._stream, subjects=[self._subject], storage=StorageType.MEMORY
        )
        self.destination = {"url": NATS_URL, "subject": self._subject}

    async def count(self) -> int:
        return int((await self._js.stream_info(self._stream)).state.messages)

    async def clear(self) -> None:
        await self._js.purge_stream(self._stream)

    async def bare(self, messages: Signed) -> float:
        import nats

        nc = await nats.connect(NATS_URL, allow_reconnect=False)
        try:
            js = nc.jetstream()

            async def publish(body: bytes, headers: dict[str, str]) -> None:
                await js.publish(self._subject, body, headers=_headers(headers))

            return await _lanes(messages, publish)
        finally:
            await nc.close()

    async def close(self) -> None:
        try:
            await self._js.delete_stream(self._stream)
        finally:
            await self._nc.close()


class _RedisStream(_Target):
    name, client = "redis_stream", "redis-py"
    MAX_LEN = 1_000_000  # past any run's count, so none is trimmed away before it is counted

    async def open(self) -> None:
        from redis.asyncio import Redis

        self._key = f"aitopup-bench-{uuid.uuid4().hex}"
        self._redis = Redis.from_url(STREAM_REDIS_URL)
        await self._redis.ping()
        self.destination = {"url": STREAM_REDIS_URL, "stream": self._key, "max_len": self.MAX_LEN}

    async def count(self) -> int:
        return int(await self._redis.xlen(self._key))

    async def clear(self) -> None:
        await self._redis.delete(self._key)

    async def bare(self, messages: Signed) -> float:
        from redis.asyncio import Redis

        client = Redis.from_url(STREAM_REDIS_URL, max_connections=CONCURRENCY)
        try:

            async def publish(body: bytes, headers: dict[str, str]) -> None:
                fields: dict[Any, Any] = {"body": body, **_headers(headers)}
                await client.xadd(self._key, fields, maxlen=self.MAX_LEN, approximate=True)

            return await _lanes(messages, publish)
        finally:
            await client.aclose()

    async def close(self) -> None:
        try:
            await self._redis.delete(self._key)
        finally:
            await self._redis.aclose()


_AWS_KEYS = {"region": "us-east-1", "access_key_id": "bench", "secret_access_key": "bench-secret"}


class _Sqs(_Target):
    """SQS as ``moto``'s server plays it, a process of the run's own on loopback: its figures
    are mostly moto's own (a Python server), not a queue's in AWS."""

    name, client = "sqs", "aiobotocore"
    share, rate = 0.1, 20  # what moto keeps up with, on a loaded machine

    async def _client(self) -> Any:
        from aiobotocore.session import AioSession

        made = AioSession().create_client(
            "sqs",
            region_name=_AWS_KEYS["region"],
            endpoint_url=self._url,
            aws_access_key_id=_AWS_KEYS["access_key_id"],
            aws_secret_access_key=_AWS_KEYS["secret_access_key"],
        )
        return await made.__aenter__()

    async def open(self) -> None:
        self._stack = contextlib.ExitStack()
        port = free_port()
        moto = str(Path(sys.executable).with_name("moto_server"))
        args = [moto, "-H", "127.0.0.1", "-p", str(port)]
        self._stack.enter_context(process(args, os.environ, self.folder / "moto.log", port=port))
        self._url = f"http://127.0.0.1:{port}"
        try:
            self._sqs = await self._client()
            made = await self._sqs.create_queue(QueueName=f"aitopup-bench-{uuid.uuid4().hex}")
        except BaseException:
            self._stack.close()
            raise
        self._queue = made["QueueUrl"]
        self.destination = {"queue_url": self._queue, "endpoint_url": self._url, **_AWS_KEYS}

    async def count(self) -> int:
        found = await self._sqs.get_queue_attributes(
            QueueUrl=self._queue, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(found["Attributes"]["ApproximateNumberOfMessages"])

    async def clear(self) -> None:
        # Made anew under its name (the same URL): moto, as SQS, purges a queue once a minute.
        await self._sqs.delete_queue(QueueUrl=self._queue)
        await self._sqs.create_queue(QueueName=self._queue.rsplit("/", 1)[1])

    async def bare(self, messages: Signed) -> float:
        client = await self._client()
        try:

            async def publish(body: bytes, headers: dict[str, str]) -> None:
                attributes = {
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in _headers(headers).items()
                }
                await client.send_message(
                    QueueUrl=self._queue, MessageBody=body.decode(), MessageAttributes=attributes
                )

            return await _lanes(messages, publish)
        finally:
            await client.__aexit__(None, None, None)

    async def close(self) -> None:
        try:
            await self._sqs.__aexit__(None, None, None)
        finally:
            self._stack.close()


TARGETS: dict[str, type[_Target]] = {t.name: t for t in (_RabbitMq, _Nats, _RedisStream, _Sqs)}
_A = table_of(DeliveryAttempt)
_D = table_of(WebhookDelivery)


async def _setup(db: Database, sealer: Sealer, target: _Target) -> tuple[str, bytes]:
    """A merchant of the bench's own with one endpoint of the target's type, judged, tested and
    sealed as a save through the API is."""
    now = utcnow()
    endpoint_id = new_id("we")
    columns = await saving.judged(
        sealer, endpoint_id, target.name, target.destination, allow_loopback=True
    )
    async with db.transaction() as conn:
        merchant = await _merchant(conn, db, now)
        secret = await add_endpoint(
            conn,
            sealer,
            env="staging",
            merchant_id=merchant.id,
            url=columns["url"],
            now=now,
            endpoint_id=endpoint_id,
            columns=columns,
        )
    return merchant.id, decode_webhook_secret(secret)


async def _acked(db: Database, merchant_id: str) -> dict[str, float]:
    """When each of the merchant's deliveries was acknowledged, by delivery id: its attempt's
    start plus its duration."""
    query = (
        select(_A.c.delivery_id, _A.c.started_at, _A.c.duration_ms)
        .select_from(_A.join(_D, _D.c.id == _A.c.delivery_id))
        .where(_D.c.merchant_id == merchant_id, _A.c.error.is_(None))
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return {row.delivery_id: _epoch(row.started_at) + row.duration_ms / 1000 for row in rows}


async def _acked_since(db: Database, merchant_id: str, before: set[str]) -> dict[str, float]:
    """``_acked``'s of deliveries not in ``before``, by event id."""
    return {
        "evt_" + delivery_id[4:28]: at
        for delivery_id, at in (await _acked(db, merchant_id)).items()
        if delivery_id not in before
    }


def _epoch(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


async def _broker(db: Database, redis: Any, target: _Target) -> list[Row]:
    merchant_id, key = await _setup(db, Sealer(SEALING.encode()), target)
    # Warm-up: a burst, so the worker's client of this broker and its pool are open.
    await outbox.wake_for(redis, await _emit(db, merchant_id, WARM_UP))
    await target.wait_for(WARM_UP, within=120)
    await target.bare(_signed(key, min(WARM_UP, 200)))
    await target.clear()

    # (a) the worker and the bare loop in turn; the round whose ratio is the median kept.
    size = max(1, int(THROUGHPUT_DELIVERIES * target.share))
    rounds: list[tuple[float, float]] = []
    for _ in range(ROUNDS):
        ids = await _emit(db, merchant_id, size)
        started = time.perf_counter()
        await outbox.wake_for(redis, ids)
        await target.wait_for(size, within=180)
        worker = size / (time.perf_counter() - started)
        await target.clear()
        bare = await target.bare(_signed(key, size))
        await target.clear()
        rounds.append((worker, bare))
    worker_rate, bare_rate = sorted(rounds, key=lambda r: r[0] / r[1])[ROUNDS // 2]

    # (b) the latency at a steady rate, from each event's commit to its publish's ack.
    before = set(await _acked(db, merchant_id))
    total = max(1, int(target.rate * STEADY_SECONDS))
    with collector_off():
        committed = await _steady(db, redis, merchant_id, total, target.rate)
        await target.wait_for(total, within=120)
    # The broker holds them all; their attempts are recorded just after each ack.
    deadline = time.monotonic() + 60
    while len(acked := await _acked_since(db, merchant_id, before)) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target.name}: {len(acked)} of {total} attempts recorded")
        await asyncio.sleep(0.1)
    latencies = [(acked[i] - t) * 1000 for i, t in committed.items() if i in acked]
    await target.clear()
    p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
    return [
        Row(
            f"{target.name}: one worker: deliveries/s",
            worker_rate,
            "/s",
            f"bare {target.client} loop",
            bare_rate,
            ">= 50%",
        ),
        Row(
            f"{target.name}: event-to-ack p50 at {target.rate}/s",
            p50,
            "ms",
            "p99 target",
            100.0,
            "-",
        ),
        Row(
            f"{target.name}: event-to-ack p99 at {target.rate}/s",
            p99,
            "ms",
            "p99 target",
            100.0,
            "< 100 ms",
        ),
    ]


def _missed(name: str, exc: BaseException) -> Row:
    said = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
    return Row(f"{name}: did not finish", 1, "suite", "brokers", 1, f"0 ({said})", True)


async def _measure(folder: Path, database_url: str) -> list[Row]:
    await asyncio.to_thread(upgrade, database_url)
    rows: list[Row] = []
    with worker_bench(folder, database_url) as (env, _):
        from arq import create_pool
        from arq.connections import RedisSettings

        db = open_database(database_url)
        redis = await create_pool(RedisSettings.from_dsn(env["AITOPUP_REDIS_URL"]))
        try:
            worker_cmd = os.environ.get("AITOPUP_BENCH_WORKER_CMD", "-m worker").split()
            with process([sys.executable, *worker_cmd], env, folder / "worker.log"):
                for name in BROKERS:
                    target = TARGETS[name](folder)
                    try:
                        await target.open()
                    except Exception as exc:  # one broker not there: a row, the rest run
                        rows.append(_missed(name, exc))
                        continue
                    try:
                        rows += await _broker(db, redis, target)
                    except Exception as exc:
                        traceback.print_exc()
                        rows.append(_missed(name, exc))
                    finally:
                        await target.close()
        finally:
            await redis.aclose()
            await db.dispose()
    return rows


def run() -> list[Row]:
    """On SQLite, then on PostgreSQL when it answers (a fresh database each)."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="aitopup-bench-") as folder:
        for store, url in each_store(Path(folder), "bench"):
            rows += labelled(store, asyncio.run(_measure(Path(folder), url)))
    return rows


if __name__ == "__main__":
    run_alone(run)
