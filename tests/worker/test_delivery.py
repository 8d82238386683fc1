"""Deliveries end to end: the gateway's outbox, a real ARQ worker, a real receiver on 127.0.0.1."""

import json
from typing import Any

import httpx

from gateway.store.engine import Database
from tests.fixtures.clock import Stepped
from tests.fixtures.core import loop_lag, wait_until
from tests.fixtures.deliveries import SEND, attempts_of, step_through
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import (
    Receiver,
    Reply,
    make_endpoint,
    only_delivery,
    verify_both_schemes,
)
from tests.fixtures.workers import StartWorker


async def test_a_send_reaches_the_receiver_signed_both_ways(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
) -> None:
    await start_worker()
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url)
    sent = await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200

    request = await only_delivery(receiver)
    # The Standard Webhooks library, unchanged, verifies it; so does X-AiTopUp-Signature.
    payload = verify_both_schemes(request, endpoint["secret"])
    assert payload["type"] == "topup.delivered"
    assert payload["env"] == "staging"
    assert payload["data"]["transaction_id"] == sent.json()["transaction_id"]
    assert request.headers["webhook-id"] == payload["id"]
    assert payload["id"].startswith("evt_")
    assert request.headers["x-aitopup-event"] == "topup.delivered"
    assert request.headers["user-agent"] == "aiTopUp-Webhooks/1"
    assert "cookie" not in request.headers
    assert request.headers["x-aitopup-delivery"].startswith("dlv_")

    delivery_id = request.headers["x-aitopup-delivery"]

    async def succeeded() -> bool:
        reply = await hook_client.get(
            f"/webhooks/deliveries/{delivery_id}", headers=merchant.headers
        )
        return bool(reply.json()["data"]["status"] == "succeeded")

    await wait_until(succeeded)
    detail = (
        await hook_client.get(f"/webhooks/deliveries/{delivery_id}", headers=merchant.headers)
    ).json()["data"]
    assert detail["attempts"] == 1
    [attempt] = detail["attempt_log"]
    assert attempt["trigger"] == "auto"
    assert attempt["response_status"] == 200
    assert attempt["response_body"] == "ok"
    assert attempt["error"] is None
    assert attempt["request_body"] == request.body.decode()
    assert attempt["request_headers"]["webhook-id"] == payload["id"]
    assert json.loads(detail["payload"]) == payload


async def test_during_a_rotation_both_secrets_verify(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
) -> None:
    await start_worker()
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url)
    rotated = await hook_client.post(
        f"/webhooks/endpoints/{endpoint['id']}/rotate-secret",
        json={"overlap_seconds": 3600},
        headers=merchant.headers,
    )
    new_secret = rotated.json()["data"]["secret"]
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)

    request = await only_delivery(receiver)
    for secret in (endpoint["secret"], new_secret):
        verify_both_schemes(request, secret)
    assert len(request.headers["webhook-signature"].split(" ")) == 2

    # Without an overlap only the new secret signs.
    await hook_client.post(
        f"/webhooks/endpoints/{endpoint['id']}/rotate-secret",
        json={"overlap_seconds": 0},
        headers=merchant.headers,
    )
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)

    async def second() -> bool:
        return len(receiver.received) == 2

    await wait_until(second)
    assert len(receiver.received[1].headers["webhook-signature"].split(" ")) == 1


async def test_a_500_gets_exactly_three_attempts_on_schedule_then_replay_keeps_the_id(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    clock = Stepped()
    running = await start_worker(seams={"clock": clock})
    receiver.clock = clock.monotonic  # the gaps, on the clock the schedule reads
    receiver.respond = lambda _: Reply(status=500, body=b"boom")
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    delays = running.settings.retry_delays

    listed: list[dict[str, Any]] = []

    async def failed() -> bool:
        reply = await hook_client.get(
            "/webhooks/deliveries?status=failed", headers=merchant.headers
        )
        listed[:] = reply.json()["data"]
        return len(listed) == 1

    async with loop_lag() as lag:
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await step_through(clock, db, merchant.merchant_id, delays[1:])
        await wait_until(failed)
    assert len(receiver.received) == 3
    assert len(receiver.ids()) == 1
    gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    # Never early; late by no more than the worker's own wake-up and whatever the machine
    # stalled this loop for meanwhile: a second, where another entry of the schedule is 25 s
    # off, so a loaded machine's late wake-up passes and a wrong entry does not.
    for gap, expected in zip(gaps, delays[1:], strict=True):
        assert expected <= gap < expected + 1.0 + lag.worst, (gaps, lag.worst)

    delivery_id = listed[0]["id"]
    log = await attempts_of(db, delivery_id)
    assert [a.attempt for a in log] == [1, 2, 3]
    assert all(a.response_status == 500 and a.error == "HTTP 500" for a in log)
    assert all(a.response_body == "boom" for a in log)

    receiver.respond = lambda _: Reply()
    replay = await hook_client.post(
        f"/webhooks/deliveries/{delivery_id}/replay", headers=merchant.headers
    )
    assert replay.status_code == 200, replay.text
    assert replay.json()["data"]["status"] == "pending"

    async def delivered() -> bool:
        return len(receiver.received) == 4

    await wait_until(delivered)
    assert receiver.received[3].webhook_id == receiver.received[0].webhook_id

    async def logged() -> bool:
        return len(await attempts_of(db, delivery_id)) == 4

    await wait_until(logged)
    last = (await attempts_of(db, delivery_id))[-1]
    assert (last.attempt, last.trigger, last.response_status) == (4, "replay", 200)
