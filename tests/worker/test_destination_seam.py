"""A destination type is one module and one registry line: a made-up one, registered here,
is taken through a delivery, a retry, a replay and an ordered endpoint as the broker types are,
with nothing else of the gateway's or the worker's told of it."""

from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import BaseModel, ConfigDict
from standardwebhooks import Webhook

from gateway.store.engine import Database
from gateway.webhooks.destinations import registry
from gateway.webhooks.destinations.base import Broker, Message
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import emit_test_events
from tests.fixtures.workers import StartWorker


# The made-up type's module: its destination object, and its client a box of messages that
# refuses as many publishes as it is told to.
class BoxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    box: str


@dataclass
class Box:
    messages: list[Message] = field(default_factory=list)
    refuse: int = 0
    opened: int = 0
    too_big: bool = False  # refuse every message as one no retry can cure


BOXES: dict[str, Box] = {}


class Boxes(Broker):
    name = "box"
    config = BoxConfig
    schemes: ClassVar[dict[str, int]] = {"box": 1}

    async def open(self, config: Any, reach: Any) -> Any:
        box = BOXES[config.box]
        box.opened += 1
        return box

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        if client.too_big:
            raise ValueError("message too large for the box")
        if client.refuse:
            client.refuse -= 1
            raise ConnectionError("the box is shut")
        client.messages.append(message)
        return f"box:{len(client.messages)}"

    def retryable(self, exc: BaseException) -> bool:
        return not isinstance(exc, ValueError)

    async def close(self, client: Any) -> None:
        pass


@pytest.fixture
def box(monkeypatch: pytest.MonkeyPatch) -> Box:
    monkeypatch.setitem(registry.DESTINATIONS, "box", Boxes())  # the one registry line
    found = BOXES.setdefault("test", Box())
    found.messages.clear()
    found.refuse = found.opened = 0
    found.too_big = False
    return found


def number(payload: dict[str, Any]) -> int:
    message: str = payload["data"]["message"]
    return int(message.removeprefix("Test event ").removesuffix("."))


async def test_a_made_up_type_delivers_retries_replays_and_keeps_order(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    box: Box,
) -> None:
    merchant = await make_merchant()
    made = await hook_client.post(
        "/webhooks/endpoints",
        json={
            "type": "box",
            "destination": {"url": "box://127.0.0.1", "box": "test"},
            "event_types": ["webhook.test"],
            "ordered": True,
        },
        headers=merchant.headers,
    )
    assert made.status_code == 201, made.text
    endpoint = made.json()["data"]
    assert endpoint["type"] == "box"
    secret = endpoint["secret"]
    await start_worker(webhook_retry_schedule="0,0.1,0.1,0.1,0.1", webhook_timeout_seconds=2)
    box.refuse = 2  # the first two publishes fail: the head retried, the rest wait behind it
    ids = await emit_test_events(db, merchant.merchant_id, 3)

    async def three() -> bool:
        return len(box.messages) == 3

    await wait_until(three, within=20)
    opened = box.opened  # each refusal dropped its client; the one that took a message is kept
    payloads = [Webhook(secret).verify(m.body, m.headers) for m in box.messages]
    assert [number(p) for p in payloads] == [0, 1, 2]
    assert [m.id for m in box.messages] == [p["id"] for p in payloads]

    detail = await hook_client.get(f"/webhooks/deliveries/{ids[0]}", headers=merchant.headers)
    log = detail.json()["data"]["attempt_log"]
    assert [a["error"] is None for a in log] == [False, False, True], log
    assert log[0]["error"] == "not acknowledged: the box is shut"
    assert log[-1]["response_body"] == "acknowledged: box:1"
    assert log[-1]["response_status"] is None
    assert detail.json()["data"]["status"] == "succeeded"

    replay = await hook_client.post(
        f"/webhooks/deliveries/{ids[0]}/replay", headers=merchant.headers
    )
    assert replay.status_code in (200, 202), replay.text

    async def replayed() -> bool:
        return len(box.messages) == 4

    await wait_until(replayed, within=20)
    again = box.messages[-1]
    assert again.id == box.messages[0].id  # the same webhook-id: a consumer deduplicates on it
    assert number(Webhook(secret).verify(again.body, again.headers)) == 0
    assert box.opened == opened  # the replay went on the kept client


async def test_an_error_its_type_calls_final_gives_the_delivery_up_at_once(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    box: Box,
) -> None:
    merchant = await make_merchant()
    made = await hook_client.post(
        "/webhooks/endpoints",
        json={"type": "box", "destination": {"url": "box://127.0.0.1", "box": "test"}},
        headers=merchant.headers,
    )
    assert made.status_code == 201, made.text
    await start_worker(webhook_retry_schedule="0,0.1,0.1", webhook_timeout_seconds=2)
    box.too_big = True
    [delivery] = await emit_test_events(db, merchant.merchant_id, 1)

    async def given_up() -> bool:
        reply = await hook_client.get(f"/webhooks/deliveries/{delivery}", headers=merchant.headers)
        return bool(reply.json()["data"]["status"] == "failed")

    await wait_until(given_up, within=20)
    reply = await hook_client.get(f"/webhooks/deliveries/{delivery}", headers=merchant.headers)
    log = reply.json()["data"]["attempt_log"]
    assert [a["error"] for a in log] == ["not acknowledged: message too large for the box"]
