"""A Pub/Sub destination against the stand-in of its REST API (``gateway.standins.pubsub``):
a topic takes signed events a consumer verifies with ``standardwebhooks``; one gone a while
loses none, in order; a topic not there is refused when saved."""

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from standardwebhooks import Webhook

from gateway.standins.pubsub import PubSubStandIn
from gateway.store.engine import Database
from tests.fixtures.core import wait_until
from tests.fixtures.destinations import QUICK, failed_attempts, number
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.stand_ins import served
from tests.fixtures.webhooks import emit_test_events
from tests.fixtures.workers import StartWorker

# A service account's key file, as Google makes it (its key never read with a stand-in).
KEY_FILE = json.dumps(
    {
        "type": "service_account",
        "client_email": "a@p.iam.gserviceaccount.com",
        "private_key": "hush",
    }
)


@pytest.fixture
async def pubsub() -> AsyncIterator[PubSubStandIn]:
    async with served(PubSubStandIn()) as stand_in:
        yield stand_in


async def test_a_pubsub_topic_takes_signed_events_and_one_gone_a_while_loses_none(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    pubsub: PubSubStandIn,
) -> None:
    topic = f"projects/aitopup-test/topics/t-{uuid.uuid4().hex}"
    pubsub.topics[topic] = []
    merchant = await make_merchant()
    destination = {"topic": topic, "endpoint_url": pubsub.url}
    missing = await hook_client.post(
        "/webhooks/endpoints",
        json={"type": "pubsub", "destination": {**destination, "topic": f"{topic}-not-there"}},
        headers=merchant.headers,
    )
    assert missing.json()["code"] == 5353, missing.text
    reply = await hook_client.post(
        "/webhooks/endpoints",
        json={
            "type": "pubsub",
            "destination": {**destination, "credentials": KEY_FILE},
            "event_types": ["webhook.test"],
            "ordered": True,
        },
        headers=merchant.headers,
    )
    assert reply.status_code == 201, reply.text
    assert "hush" not in reply.text
    made = reply.json()["data"]
    secret = made["secret"]
    await start_worker(**QUICK)
    await emit_test_events(db, merchant.merchant_id, 2)

    def numbers() -> list[int]:
        return [number(Webhook(secret).verify(m.data, m.attributes)) for m in pubsub.topics[topic]]

    async def two() -> bool:
        return len(pubsub.topics.get(topic, [])) == 2

    await wait_until(two, within=20)
    assert numbers() == [0, 1]

    del pubsub.topics[topic]  # gone: Pub/Sub's 404, retried on the schedule
    await emit_test_events(db, merchant.merchant_id, 3)

    async def refused() -> bool:
        return len(await failed_attempts(db, made["id"])) >= 2

    await wait_until(refused, within=20)
    pubsub.topics[topic] = []

    async def three() -> bool:
        return len(pubsub.topics.get(topic, [])) == 3

    await wait_until(three, within=20)
    assert numbers() == [0, 1, 2]
