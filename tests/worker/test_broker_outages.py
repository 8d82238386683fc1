"""A broker gone mid-run, for real: a RabbitMQ whose network is cut (a proxy in front of the
shared broker, a private exchange and queue), and a NATS server with JetStream of the test's own,
stopped and started again. Deliveries made meanwhile are retried on the schedule and arrive once
it is back, none lost, in order on an ordered endpoint; the merchant's other endpoint reads about
it in ``endpoint.failing`` and ``endpoint.recovered``, and one down past the window in
``endpoint.disabled`` and its owners' mail, in words that name the broker's address with its
password masked and say what went wrong, never a secret."""

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from gateway.store.engine import Database
from gateway.webhooks import event_types
from tests.fixtures.brokers import NatsServer, cut_proxy
from tests.fixtures.core import wait_until
from tests.fixtures.deliveries import failing_for
from tests.fixtures.destinations import (
    QUICK,
    failed_attempts,
    make_destination,
    number,
    succeeded_count,
)
from tests.fixtures.mail import Inbox, html_of, text_of
from tests.fixtures.merchants import MakeMerchant, MerchantKey, add_member
from tests.fixtures.webhooks import Receiver, emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker

OPERATIONAL = ["endpoint.failing", "endpoint.disabled", "endpoint.recovered", "delivery.exhausted"]
RABBITMQ_PORT = 5672


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    yield server
    server.close()


def verified(secret: str, body: bytes | str, headers: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    return payload


def told(receiver: Receiver, type_: str) -> list[dict[str, Any]]:
    """The operational events of ``type_`` the watching endpoint got, each as its contract
    says."""
    found = []
    for request in receiver.received:
        if request.headers["x-aitopup-event"] == type_:
            event_types.validate_body(type_, request.body)
            found.append(json.loads(request.body)["data"])
    return found


async def watching(client: httpx.AsyncClient, merchant: MerchantKey, receiver: Receiver) -> None:
    await make_endpoint(client, merchant, receiver.url, event_types=OPERATIONAL)


async def retried_while_down(db: Database, endpoint_id: str, before: int) -> None:
    """At least two attempts more failed since the broker went: retried on the schedule."""

    async def retried() -> bool:
        return len(await failed_attempts(db, endpoint_id)) >= before + 2

    await wait_until(retried, within=20)


async def through_an_outage(
    db: Database,
    receiver: Receiver,
    merchant_id: str,
    endpoint_id: str,
    *,
    cut: Callable[[], Awaitable[None]],
    back: Callable[[], Awaitable[None]],
    read: Callable[[int], Awaitable[None]],
) -> None:
    """The broker's outage mid-run, as each test stages it: two events delivered (``read``: the
    broker read, until that many arrived); the broker ``cut``; three more made, retried on the
    schedule while it is down and the merchant told it fails; the broker ``back``; all five
    read; and the merchant told it recovered."""
    await emit_test_events(db, merchant_id, 2)
    await read(2)

    # Cut once the worker has recorded both as taken: a cut between the broker taking a
    # message and its acknowledgement reaching the worker is a try that failed after the
    # broker had the message, which it is sent again (at least once), not this test's outage.
    async def recorded() -> bool:
        return await succeeded_count(db, endpoint_id) == 2

    await wait_until(recorded, within=20)
    await cut()
    before = len(await failed_attempts(db, endpoint_id))
    await emit_test_events(db, merchant_id, 3)
    await retried_while_down(db, endpoint_id, before)

    async def warned() -> bool:
        return bool(told(receiver, "endpoint.failing"))

    await wait_until(warned, within=20)
    await back()
    await read(5)

    async def recovered() -> bool:
        return bool(told(receiver, "endpoint.recovered"))

    await wait_until(recovered, within=20)


def said_in_the_merchant_words(
    failing: dict[str, Any], endpoint_id: str, shown_url: str, secrets: list[str]
) -> None:
    assert failing["endpoint_id"] == endpoint_id
    assert failing["url"] == shown_url  # the broker's address, its password masked
    last = failing["last_attempt"]
    assert last["response_status"] is None  # a broker answers with no status
    error = last["error"]
    assert error.startswith(("connect failed:", "not acknowledged:", "timeout:")), error
    for secret in secrets:
        assert secret not in json.dumps(failing)


async def test_a_rabbitmq_cut_off_mid_run_gets_every_event_once_back_in_order(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    receiver: Receiver,
    db: Database,
) -> None:
    import aio_pika

    name = f"aitopup-outage-{uuid.uuid4().hex}"
    password = "guest"
    async with cut_proxy(RABBITMQ_PORT) as proxy:
        # The test reads the broker directly; the worker reaches it only through the proxy.
        connection = await aio_pika.connect(f"amqp://guest:{password}@127.0.0.1:5672/%2F")
        try:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                name, aio_pika.ExchangeType.DIRECT, auto_delete=True
            )
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(exchange, routing_key="events")
            merchant = await make_merchant()
            url = f"amqp://guest:{password}@127.0.0.1:{proxy.port}/%2F"
            made = await make_destination(
                hook_client,
                merchant,
                "rabbitmq",
                destination={"url": url, "exchange": name, "routing_key": "events"},
                ordered=True,
            )
            await watching(hook_client, merchant, receiver)
            secret = made["secret"]
            await start_worker(**QUICK)
            got: list[int] = []

            async def drain(count: int) -> None:
                async def arrived() -> bool:
                    message = await queue.get(fail=False, no_ack=True)
                    if message is not None:
                        headers = {k: str(v) for k, v in message.headers.items()}
                        got.append(number(verified(secret, message.body, headers)))
                    return len(got) >= count

                await wait_until(arrived, within=30)

            async def read(count: int) -> None:
                await drain(count)
                if count == 5:
                    assert got == [0, 1, 0, 1, 2]  # none lost, none twice, in order

            await through_an_outage(
                db,
                receiver,
                merchant.merchant_id,
                made["id"],
                cut=proxy.cut,
                back=proxy.open,
                read=read,
            )
        finally:
            await connection.close()

    [failing] = told(receiver, "endpoint.failing")
    shown = f"amqp://guest:***@127.0.0.1:{proxy.port}/%2F"
    said_in_the_merchant_words(failing, made["id"], shown, [f"guest:{password}@"])
    [back] = told(receiver, "endpoint.recovered")
    assert back["endpoint_id"] == made["id"] and back["url"] == shown
    assert not told(receiver, "delivery.exhausted")  # nothing given up


async def test_a_nats_server_stopped_mid_run_gets_every_event_once_started_in_order(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    receiver: Receiver,
    db: Database,
    private_nats: NatsServer,
) -> None:
    import nats

    tag = uuid.uuid4().hex
    stream, subject = f"OUTAGE_{tag}", f"aitopup.outage.{tag}"
    client = await nats.connect(private_nats.url)
    try:
        await client.jetstream().add_stream(name=stream, subjects=[subject])
    finally:
        await client.close()
    merchant = await make_merchant()
    made = await make_destination(
        hook_client,
        merchant,
        "nats",
        destination={"url": private_nats.url, "subject": subject},
        ordered=True,
    )
    await watching(hook_client, merchant, receiver)
    secret = made["secret"]
    await start_worker(**QUICK)

    async def stored(count: int) -> list[int]:
        client = await nats.connect(private_nats.url)
        js = client.jetstream()
        try:

            async def there() -> bool:
                info = await js.stream_info(stream)
                return bool(info.state.messages >= count)

            await wait_until(there, within=30)
            found = []
            for seq in range(1, count + 1):
                message = await js.get_msg(stream, seq)
                headers = dict(message.headers or {})
                found.append(number(verified(secret, message.data or b"", headers)))
            assert (await js.stream_info(stream)).state.messages == count
            return found
        finally:
            await client.close()

    async def read(count: int) -> None:
        if count == 2:
            assert await stored(2) == [0, 1]
        else:
            assert await stored(5) == [0, 1, 0, 1, 2]  # none lost, none twice, in order

    async def stop() -> None:
        private_nats.stop()

    async def start() -> None:
        private_nats.start()  # the same port, its streams kept on disk

    await through_an_outage(
        db, receiver, merchant.merchant_id, made["id"], cut=stop, back=start, read=read
    )
    [failing] = told(receiver, "endpoint.failing")
    said_in_the_merchant_words(failing, made["id"], private_nats.url, [])
    assert not told(receiver, "delivery.exhausted")


async def test_a_broker_endpoint_down_past_the_window_is_disabled_in_words_with_no_secret(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    receiver: Receiver,
    smtp_server: Inbox,
    db: Database,
) -> None:
    import aio_pika

    name = f"aitopup-disabled-{uuid.uuid4().hex}"
    password = "guest"
    async with cut_proxy(RABBITMQ_PORT) as proxy:
        connection = await aio_pika.connect(f"amqp://guest:{password}@127.0.0.1:5672/%2F")
        try:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                name, aio_pika.ExchangeType.DIRECT, auto_delete=True
            )
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(exchange, routing_key="events")
            merchant = await make_merchant()
            owner = await add_member(db, merchant.merchant_id)
            url = f"amqp://guest:{password}@127.0.0.1:{proxy.port}/%2F"
            made = await make_destination(
                hook_client,
                merchant,
                "rabbitmq",
                destination={"url": url, "exchange": name, "routing_key": "events"},
            )
            await watching(hook_client, merchant, receiver)
            await start_worker(
                **QUICK,
                webhook_disable_after_seconds=3600,
                smtp_url=SecretStr(smtp_server.url),
                mail_retry_schedule="0,0.2",
            )
            await emit_test_events(db, merchant.merchant_id, 1)

            async def delivered() -> bool:
                return await queue.get(fail=False, no_ack=True) is not None

            await wait_until(delivered, within=30)

            await proxy.cut()
            await emit_test_events(db, merchant.merchant_id, 1)
            await retried_while_down(db, made["id"], 0)
            await failing_for(db, made["id"], 3601)  # as if it had been down past the window

            async def disabled() -> bool:
                return bool(told(receiver, "endpoint.disabled"))

            await wait_until(disabled, within=30)

            async def mailed() -> bool:
                return any(
                    m["Subject"].startswith("Webhook endpoint disabled")
                    for m in smtp_server.received
                )

            await wait_until(mailed, within=30)
        finally:
            await connection.close()

    shown = f"amqp://guest:***@127.0.0.1:{proxy.port}/%2F"
    [gone] = told(receiver, "endpoint.disabled")
    assert gone["endpoint_id"] == made["id"] and gone["url"] == shown
    assert gone["trigger"] == "failing"
    assert gone["reason"].startswith("failing since")
    [failing] = told(receiver, "endpoint.failing")
    said_in_the_merchant_words(failing, made["id"], shown, [f"guest:{password}@"])
    [mail] = [m for m in smtp_server.received if "disabled" in m["Subject"]]
    assert mail["To"] == owner
    # The mail names the broker's address with no credentials at all.
    bare = f"amqp://127.0.0.1:{proxy.port}/%2F"
    assert mail["Subject"] == f"Webhook endpoint disabled: {bare} (staging)"
    for part in (text_of(mail), html_of(mail)):
        assert f"guest:{password}@" not in part and "whsec_" not in part
        assert "failing since" in part
