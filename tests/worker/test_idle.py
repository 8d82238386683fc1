"""An idle worker sleeps until its next row falls due, a wake comes, or its idle poll: it starts
a delivery as soon as it is woken for it, or as soon as it falls due, and otherwise looks at its
rows about once an idle poll."""

import statistics
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway import outbox
from gateway.store import queue
from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.clock import utcnow
from tests.fixtures.clock import Stepped
from tests.fixtures.core import loop_lag, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker
from worker import runner

# Far longer than any wait below: only a wake or a row falling due can explain a quick start.
IDLE_POLL = 30.0

_D = table_of(WebhookDelivery)


async def _due_at(db: Database, delivery_id: str, seconds: float) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(_D)
            .where(_D.c.id == delivery_id)
            .values(next_attempt_at=utcnow() + timedelta(seconds=seconds))
        )


async def test_an_idle_worker_looks_at_its_rows_once_an_idle_poll(
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    db: Database,
) -> None:
    """Idle after work, too: the tries that ended leave nothing that keeps a lane awake."""
    looks: list[str] = []

    async def counted(db: Database, q: queue.Queue, now: Any, since: str = "") -> Any:
        looks.append(q.table.name)
        return await queue.next_due(db, q, now, since)

    monkeypatch.setattr(runner, "next_due", counted)
    running = await start_worker(worker_idle_poll_seconds=1.0)
    lanes = len(running.service.runner.lanes)
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    await emit_test_events(db, merchant.merchant_id, 3, redis_url=running.settings.redis_url)

    async def delivered() -> bool:
        return len(receiver.received) == 3

    await wait_until(delivered)
    looks.clear()
    start = time.monotonic()

    async def a_few_polls() -> bool:
        return time.monotonic() - start >= 3.0

    await wait_until(a_few_polls, within=10)
    # A look a lane a second, and the first one each; polling every 10 ms would be 300 a lane.
    assert len(looks) <= lanes * 5, looks


async def test_an_idle_worker_wakes_on_a_wake_and_when_a_row_falls_due(
    start_worker: StartWorker,
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    db: Database,
) -> None:
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    clock = Stepped()
    running = await start_worker(worker_idle_poll_seconds=IDLE_POLL, seams={"clock": clock})
    receiver.clock = clock.monotonic
    redis = running.deps.redis
    waits: list[float] = []
    for n in range(5):
        [delivery_id] = await emit_test_events(db, merchant.merchant_id, 1)
        written = clock.monotonic()
        await outbox.wake(redis, outbox.kinds_of([delivery_id]))

        async def arrived(count: int = n + 1) -> bool:
            return len(receiver.received) == count

        await wait_until(arrived, within=5, interval=0.005)
        waits.append(receiver.received[-1].at - written)
    # Without the wake a start waits for the idle poll, thirty seconds.
    assert statistics.median(waits) < 0.25, waits

    # Due in 1.5 s, and a wake now (as a retry's record wakes its own lane): the lane sleeps
    # until the row is due, not until its idle poll.
    # Written due in 1.5 s in one transaction: the worker may still be looking for work after the
    # fifth, and must never see it due now.
    async with loop_lag() as lag:
        [delivery_id] = await emit_test_events(db, merchant.merchant_id, 1, due_in=1.5)
        written = clock.monotonic()
        await outbox.wake(redis, outbox.kinds_of([delivery_id]))
        # All but the last 0.1 s on the clock; those pass in real time, so a start before the
        # row is due shows in the wait.
        clock.advance(1.4)

        async def deferred_arrived() -> bool:
            return len(receiver.received) == 6

        await wait_until(deferred_arrived, within=10, interval=0.005)
    waited = receiver.received[-1].at - written
    assert 1.4 <= waited < 1.5 + 0.25 + lag.worst, (waited, lag.worst)


async def test_a_row_held_elsewhere_does_not_hide_the_next_one_due(
    start_worker: StartWorker,
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    db: Database,
) -> None:
    """Another worker's lease (a row due again only in a minute) is not what the lane sleeps
    until: a row due sooner is started on time."""
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    held, soon = await emit_test_events(db, merchant.merchant_id, 2)
    await _due_at(db, held, 60)
    clock = Stepped()
    receiver.clock = clock.monotonic
    async with loop_lag() as lag:
        await _due_at(db, soon, 1.5)
        written = clock.monotonic()
        await start_worker(worker_idle_poll_seconds=IDLE_POLL, seams={"clock": clock})
        # A start slower than the row's 1.5 s (a busy machine) finds it due at once: the start
        # is the machine's, not the lane's, so the bound counts from whichever came later.
        started = clock.monotonic() - written
        clock.advance(1.4)  # all but the last 0.1 s, as above

        async def arrived() -> bool:
            return len(receiver.received) == 1

        await wait_until(arrived, within=10, interval=0.005)
    waited = receiver.received[-1].at - written
    due = max(1.5, started + 1.4)
    assert 1.4 <= waited < due + 0.5 + lag.worst, (waited, started, lag.worst)
    assert receiver.received[0].headers["x-aitopup-delivery"] == soon
