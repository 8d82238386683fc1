"""Receivers that misbehave: every attempt is logged with its error and the schedule holds."""

import resource
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gateway.store.engine import Database
from gateway.store.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, table_of
from gateway.values.clock import utcnow
from gateway.webhooks.urls import NAME_REFUSED
from tests.fixtures.clock import Stepped
from tests.fixtures.core import loop_lag, wait_until
from tests.fixtures.deliveries import SEND, endpoint_row, step_through
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import (
    Receiver,
    Reply,
    emit_test_events,
    make_endpoint,
    running_receiver,
)
from tests.fixtures.workers import StartWorker

_D = table_of(WebhookDelivery)
_A = table_of(DeliveryAttempt)
_EP = table_of(WebhookEndpoint)

FAST = {"webhook_retry_schedule": "0,0.2", "webhook_timeout_seconds": 0.5}


async def finished_deliveries(db: Database, endpoint_id: str) -> list[Any]:
    async with db.read() as conn:
        stmt = select(_D).where(_D.c.endpoint_id == endpoint_id, _D.c.status != "pending")
        return list((await conn.execute(stmt)).all())


async def log_of(db: Database, endpoint_id: str) -> list[Any]:
    async with db.read() as conn:
        stmt = (
            select(_A)
            .join(_D, _D.c.id == _A.c.delivery_id)
            .where(_D.c.endpoint_id == endpoint_id)
            .order_by(_A.c.id)
        )
        return list((await conn.execute(stmt)).all())


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("hang", "timeout: no complete response within 0.5s"),
        ("refuse", "connect failed"),
        ("reset", "connection broken"),
        ("redirect", "redirect not followed: HTTP 302 to http://127.0.0.1:"),
        ("huge", "HTTP 500"),
    ],
)
async def test_each_failure_is_logged_and_the_schedule_holds(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    mode: str,
    error: str,
    idle_port: int,
) -> None:
    clock = Stepped()
    await start_worker(seams={"clock": clock}, **FAST)
    target = Receiver()  # where the redirect points: must never be connected to
    await target.start()
    if mode == "redirect":
        receiver.respond = lambda _: Reply(status=302, headers={"Location": target.url})
    elif mode == "huge":
        receiver.respond = lambda _: Reply(status=500, mode="huge")
    else:
        receiver.respond = lambda _: Reply(mode=mode)
    url = f"http://127.0.0.1:{idle_port}/hook" if mode == "refuse" else receiver.url
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, url)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def failed() -> bool:
        return len(await finished_deliveries(db, endpoint["id"])) == 1

    async with loop_lag() as lag:
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await step_through(clock, db, merchant.merchant_id, [0.2])
        await wait_until(failed)
    await target.stop()
    attempts = await log_of(db, endpoint["id"])
    assert [a.attempt for a in attempts] == [1, 2]
    for attempt in attempts:
        assert attempt.error is not None and attempt.error.startswith(error), attempt.error
    gap = (attempts[1].started_at - attempts[0].started_at).total_seconds()
    first_took = attempts[0].duration_ms / 1000
    # The retry waits its 0.2 s after the attempt ended: never sooner, and later only by the
    # worker's wake-up and how long this test took to see the first attempt recorded and step
    # the clock (reads of the store, which a machine busy with the rest of the suite has made
    # take 0.3 s): well under the default schedule's next step (5 s), which a schedule not
    # followed would wait.
    assert 0.2 <= gap - first_took < 1.0 + lag.worst, (gap, first_took, lag.worst)
    assert target.connections == 0
    if mode == "huge":
        assert all(a.response_body == "x" * 4096 for a in attempts)
        # Two 50 MB bodies never entered memory: the peak grew by far less than one.
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
        assert grown_kib < 20 * 1024
    if mode == "hang":
        # Cut at its 0.5 s timeout: later only by whatever the machine stalled this loop for.
        late_ms = 1000 + lag.worst * 1000
        assert all(400 <= a.duration_ms < 500 + late_ms for a in attempts), (attempts, lag.worst)


async def test_retry_after_pushes_the_next_attempt(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    clock = Stepped()
    await start_worker(seams={"clock": clock}, **FAST)
    receiver.clock = clock.monotonic
    replies = iter([Reply(status=429, headers={"Retry-After": "1"}), Reply()])
    receiver.respond = lambda _: next(replies)
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)

    async def two() -> bool:
        return len(receiver.received) == 2

    async with loop_lag() as lag:
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await step_through(clock, db, merchant.merchant_id, [1.0])  # what Retry-After asks
        await wait_until(two)
    gap = receiver.received[1].at - receiver.received[0].at
    # Later only by the wake-up and the test's own reads before it stepped the clock, as above.
    assert 1.0 <= gap < 2.0 + lag.worst, (gap, lag.worst)


async def test_410_disables_the_endpoint_and_tells_the_others(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    await start_worker(**FAST)
    receiver.respond = lambda _: Reply(status=410)
    merchant = await make_merchant()
    gone = await make_endpoint(hook_client, merchant, receiver.url, event_types=["topup.delivered"])
    async with running_receiver() as other:
        legacy = ["webhook.endpoint.disabled"]
        await make_endpoint(hook_client, merchant, other.url, event_types=legacy)
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)

        async def told() -> bool:
            return len(other.received) == 1

        await wait_until(told)
    assert len(receiver.received) == 1  # no retry after a 410
    event = other.received[0]
    assert event.headers["x-aitopup-event"] == "webhook.endpoint.disabled"
    assert gone["id"] in event.body.decode()
    state = (
        await hook_client.get(f"/webhooks/endpoints/{gone['id']}", headers=merchant.headers)
    ).json()["data"]
    assert state["enabled"] is False
    assert state["disabled_reason"] == "endpoint answered 410 Gone"
    [delivery] = await finished_deliveries(db, gone["id"])
    assert delivery.status == "failed" and delivery.attempts == 1

    # A disabled endpoint gets nothing more until the merchant enables it again.
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    test = await hook_client.post(
        f"/webhooks/endpoints/{gone['id']}/test", headers=merchant.headers
    )
    assert test.status_code == 409 and test.json()["code"] == 5004


async def test_failing_past_the_limit_disables_the_endpoint(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    running = await start_worker(**FAST)
    receiver.respond = lambda _: Reply(status=500)
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url)
    async with db.transaction() as conn:
        long_ago = utcnow() - timedelta(seconds=running.settings.webhook_disable_after_seconds + 1)
        await conn.execute(
            update(_EP).where(_EP.c.id == endpoint["id"]).values(failing_since=long_ago)
        )
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)

    async def disabled() -> bool:
        return not (await endpoint_row(db, endpoint["id"])).enabled

    await wait_until(disabled)
    row = await endpoint_row(db, endpoint["id"])
    assert row.disabled_reason.startswith("failing since")
    [delivery] = await finished_deliveries(db, endpoint["id"])
    assert delivery.status == "failed" and delivery.attempts == 1

    # A success clears the failure clock.
    receiver.respond = lambda _: Reply()
    enabled = await hook_client.patch(
        f"/webhooks/endpoints/{endpoint['id']}", json={"enabled": True}, headers=merchant.headers
    )
    assert enabled.json()["data"]["failing_since"] is None
    assert (await endpoint_row(db, endpoint["id"])).enabled


async def test_a_host_that_turns_private_is_refused_at_connect_time(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """The endpoint passed the check when saved; by delivery time it points at loopback (as a
    rebinding DNS name would). The worker checks the address it connects to, and refuses."""
    await start_worker(**FAST)
    live = await make_merchant("live", balance_cents=100_000)
    endpoint = await make_endpoint(hook_client, live, "http://93.184.215.14/hook")
    async with db.transaction() as conn:
        await conn.execute(
            update(_EP)
            .where(_EP.c.id == endpoint["id"])
            .values(url=receiver.url.replace("127.0.0.1", "localhost"))
        )
    await hook_client.post("/topup/send", json=SEND, headers=live.headers)

    async def failed() -> bool:
        return len(await finished_deliveries(db, endpoint["id"])) == 1

    await wait_until(failed)
    attempts = await log_of(db, endpoint["id"])
    assert len(attempts) == 2
    # The attempt log says it was refused at connect time, but not what the name met there.
    blocked = f"connect failed: blocked: {NAME_REFUSED}"
    assert all(a.error == blocked for a in attempts), [a.error for a in attempts]
    assert receiver.connections == 0


async def test_an_attempt_waiting_for_a_connection_is_not_timed_out(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    redis_url: str,
) -> None:
    """The timeout is the receiver's: a burst queued behind the worker's connections is sent
    as connections free up, each attempt timed from when it can be sent."""
    await start_worker(
        webhook_max_connections=2, webhook_timeout_seconds=1.0, webhook_retry_schedule="0,0.2"
    )
    receiver.respond = lambda _: Reply(delay=0.25)
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url)
    burst = 16  # 8 rounds of 0.25 s on 2 connections: 2 s, twice the timeout
    await emit_test_events(db, merchant.merchant_id, burst, redis_url=redis_url)

    async def all_finished() -> bool:
        return len(await finished_deliveries(db, endpoint["id"])) == burst

    await wait_until(all_finished, within=30)
    assert {row.status for row in await finished_deliveries(db, endpoint["id"])} == {"succeeded"}
    log = await log_of(db, endpoint["id"])
    assert [row.error for row in log] == [None] * burst
