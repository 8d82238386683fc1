"""SQS and EventBridge destinations against ``moto``'s server on loopback: each takes a signed
event a consumer verifies with ``standardwebhooks``; a queue gone a while loses nothing."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from gateway.store.engine import Database
from tests.fixtures.core import wait_until
from tests.fixtures.destinations import QUICK, failed_attempts, number
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.webhooks import emit_test_events
from tests.fixtures.workers import StartWorker

KEYS = {"region": "us-east-1", "access_key_id": "testing", "secret_access_key": "testing-secret"}


@pytest.fixture
async def aws(moto_url: str) -> AsyncIterator[Any]:
    from aiobotocore.session import AioSession

    session = AioSession()
    clients: dict[str, Any] = {}
    for service in ("sqs", "events"):
        made = session.create_client(
            service,
            region_name="us-east-1",
            endpoint_url=moto_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret",
        )
        clients[service] = await made.__aenter__()
    yield clients
    for client in clients.values():
        await client.__aexit__(None, None, None)


async def make(
    client: httpx.AsyncClient, merchant: MerchantKey, type_: str, destination: dict[str, Any]
) -> dict[str, Any]:
    reply = await client.post(
        "/webhooks/endpoints",
        json={
            "type": type_,
            "destination": destination,
            "event_types": ["webhook.test"],
            "ordered": True,
        },
        headers=merchant.headers,
    )
    assert reply.status_code == 201, reply.text
    assert "testing-secret" not in reply.text
    data: dict[str, Any] = reply.json()["data"]
    assert data["destination"]["secret_access_key"] == "***"
    return data


async def received(sqs: Any, queue_url: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def all_in() -> bool:
        got = await sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        for message in got.get("Messages", []):
            found.append(message)
            await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(found) >= count

    await wait_until(all_in, within=20)
    return found


async def test_an_sqs_queue_takes_signed_events_and_one_gone_a_while_loses_none(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    moto_url: str,
    aws: Any,
) -> None:
    sqs = aws["sqs"]
    name = f"aitopup-{uuid.uuid4().hex}"
    queue_url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
    merchant = await make_merchant()
    made = await make(
        hook_client,
        merchant,
        "sqs",
        {"queue_url": queue_url, "endpoint_url": moto_url, **KEYS},
    )
    secret = made["secret"]
    await start_worker(**QUICK)
    await emit_test_events(db, merchant.merchant_id, 2)

    def verified(message: dict[str, Any]) -> int:
        headers = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        return number(Webhook(secret).verify(message["Body"], headers))

    assert sorted(verified(m) for m in await received(sqs, queue_url, 2)) == [0, 1]

    await sqs.delete_queue(QueueUrl=queue_url)
    await emit_test_events(db, merchant.merchant_id, 3)

    async def refused() -> bool:
        return len(await failed_attempts(db, made["id"])) >= 2

    await wait_until(refused, within=20)
    assert (await sqs.create_queue(QueueName=name))["QueueUrl"] == queue_url
    assert sorted(verified(m) for m in await received(sqs, queue_url, 3)) == [0, 1, 2]


async def test_an_eventbridge_bus_takes_signed_events(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    moto_url: str,
    aws: Any,
) -> None:
    sqs, events = aws["sqs"], aws["events"]
    tag = uuid.uuid4().hex
    bus = f"aitopup-{tag}"
    await events.create_event_bus(Name=bus)
    queue_url = (await sqs.create_queue(QueueName=f"bus-{tag}"))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    pattern = json.dumps({"source": ["aitopup.test"]})
    await events.put_rule(Name=f"r-{tag}", EventBusName=bus, EventPattern=pattern)
    await events.put_targets(
        Rule=f"r-{tag}", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}]
    )
    merchant = await make_merchant()
    made = await make(
        hook_client,
        merchant,
        "eventbridge",
        {"bus": bus, "source": "aitopup.test", "endpoint_url": moto_url, **KEYS},
    )
    secret = made["secret"]
    await start_worker(**QUICK)
    await emit_test_events(db, merchant.merchant_id, 2)
    numbers = []
    for message in await received(sqs, queue_url, 2):
        event = json.loads(message["Body"])
        assert event["detail-type"] == "webhook.test"
        detail = event["detail"]
        numbers.append(number(Webhook(secret).verify(detail["body"], detail["headers"])))
    assert sorted(numbers) == [0, 1]


async def test_a_bus_or_queue_that_is_not_there_is_refused_when_saved(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, moto_url: str
) -> None:
    merchant = await make_merchant()
    for type_, destination in (
        ("eventbridge", {"bus": "nope", "source": "s", "endpoint_url": moto_url, **KEYS}),
        (
            "sqs",
            {
                "queue_url": f"{moto_url}/123456789012/nope",
                "endpoint_url": moto_url,
                **KEYS,
            },
        ),
    ):
        reply = await hook_client.post(
            "/webhooks/endpoints",
            json={"type": type_, "destination": destination},
            headers=merchant.headers,
        )
        assert reply.json()["code"] == 5353, reply.text
        assert "testing-secret" not in reply.text
