"""Each merchant's share of a worker's connections: one merchant's slow receivers hold its share
and no more, other merchants' deliveries go ahead, and what is put off is delivered later."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import DeliveryAttempt, WebhookDelivery, table_of
from gateway.values.settings import Settings
from gateway.webhooks.shares import Shares
from tests.fixtures.clock import Stepped
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, Reply, emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker
from worker.delivery import LEASE_MARGIN
from worker.runner import HOLD

_D = table_of(WebhookDelivery)
_A = table_of(DeliveryAttempt)


def _at_once(shares: Shares, key: str) -> bool:
    """``acquire``'s answer, which must come without waiting."""
    step = shares.acquire(key)
    with pytest.raises(StopIteration) as answered:
        step.send(None)
    result: bool = answered.value.value
    return result


async def _waits(shares: Shares, key: str, count: int) -> None:
    """Until ``count`` of ``key``'s acquires are waiting: the tasks made them and are parked."""

    async def parked() -> bool:
        return shares.waiting(key) == count

    await wait_until(parked)


async def test_a_merchant_holds_its_share_and_waits_first_come_first_served() -> None:
    shares = Shares(2, hold=30)
    assert _at_once(shares, "a") and _at_once(shares, "a")
    third = asyncio.create_task(shares.acquire("a"))
    fourth = asyncio.create_task(shares.acquire("a"))
    await _waits(shares, "a", 2)
    # Another merchant does not wait behind them.
    assert _at_once(shares, "b")
    assert not third.done() and not fourth.done()
    shares.release("a")
    assert await third is True
    assert not fourth.done()
    shares.release("a")
    assert await fourth is True
    assert shares.in_flight("a") == 2
    shares.release("a")
    shares.release("a")
    assert shares.in_flight("a") == 0 and shares.in_flight("b") == 1


async def test_a_wait_past_the_hold_is_put_off_and_so_is_the_next_until_a_slot_frees() -> None:
    clock = Stepped()  # the worker's hold, on a clock the test moves through it
    shares = Shares(1, hold=HOLD, clock=clock)
    assert _at_once(shares, "a")
    waiting = asyncio.create_task(shares.acquire("a"))
    await _waits(shares, "a", 1)
    clock.advance(HOLD)
    assert await waiting is False  # waited the hold, no slot came free
    assert _at_once(shares, "a") is False  # backed up: put off without waiting
    assert _at_once(shares, "b")
    shares.release("a")  # nobody waiting: the slot is free, and the merchant no longer backed up
    assert _at_once(shares, "a") is True
    shares.release("a")
    assert shares.in_flight("a") == 0


async def test_a_cancelled_wait_takes_no_slot_and_passes_a_handed_one_on() -> None:
    shares = Shares(1, hold=30)
    assert _at_once(shares, "a")
    first = asyncio.create_task(shares.acquire("a"))
    second = asyncio.create_task(shares.acquire("a"))
    await _waits(shares, "a", 2)
    first.cancel()
    shares.release("a")  # skips the cancelled wait
    assert await second is True
    third = asyncio.create_task(shares.acquire("a"))
    await _waits(shares, "a", 1)
    shares.release("a")  # handed to the third wait...
    third.cancel()  # ...which is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await third
    assert first.cancelled()
    assert shares.in_flight("a") == 0
    assert _at_once(shares, "a")


def test_the_share_is_a_quarter_unless_set(settings: Settings) -> None:
    assert settings.webhook_max_connections == 200
    assert settings.webhook_merchant_connections == 50
    one = settings.model_copy(update={"webhook_max_connections": 2})
    assert one.webhook_merchant_connections == 1
    given = settings.model_copy(update={"webhook_max_connections_per_merchant": 500})
    assert given.webhook_merchant_connections == 200  # never more than the whole


async def _rows(db: Database, merchant_id: str) -> list[Any]:
    async with db.read() as conn:
        stmt = select(_D).where(_D.c.merchant_id == merchant_id).order_by(_D.c.id)
        return list((await conn.execute(stmt)).all())


async def _attempted(db: Database, merchant_id: str) -> list[Any]:
    async with db.read() as conn:
        stmt = (
            select(_A)
            .join(_D, _D.c.id == _A.c.delivery_id)
            .where(_D.c.merchant_id == merchant_id)
            .order_by(_A.c.id)
        )
        return list((await conn.execute(stmt)).all())


async def test_one_merchants_hanging_receivers_do_not_hold_up_another_merchant(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    hook_settings: Settings,
) -> None:
    """Merchant A's two endpoints hang; merchant B's answers at once. A's attempts hold its share
    (2 of the worker's 8 connections, across both endpoints), and B's deliveries are all done
    while A's are still hanging, well inside A's timeout."""
    timeout = 5.0
    await start_worker(
        webhook_max_connections=8,
        webhook_max_connections_per_merchant=2,
        webhook_timeout_seconds=timeout,
        webhook_retry_schedule="0",
    )
    fast = receiver
    slow = Receiver()
    slow.respond = lambda _: Reply(mode="hang")
    await slow.start()
    try:
        a, b = await make_merchant(), await make_merchant()
        await make_endpoint(hook_client, a, slow.url)
        await make_endpoint(hook_client, a, slow.url + "?second")
        await make_endpoint(hook_client, b, fast.url)
        # 16 of A's deliveries, twice the worker's connections, queued ahead of B's.
        await emit_test_events(db, a.merchant_id, 8, redis_url=hook_settings.redis_url)

        async def a_holds_its_share() -> bool:
            return len(slow.received) == 2

        await wait_until(a_holds_its_share)
        started = asyncio.get_running_loop().time()
        await emit_test_events(db, b.merchant_id, 4, redis_url=hook_settings.redis_url)

        async def b_delivered() -> bool:
            return len(fast.received) == 4

        await wait_until(b_delivered, within=timeout - 1.5)
        took = asyncio.get_running_loop().time() - started

        # A is still hanging on its share, and no more: not one of its attempts has ended.
        assert len(slow.received) == 2
        assert await _attempted(db, a.merchant_id) == []
        a_rows = await _rows(db, a.merchant_id)
        assert len(a_rows) == 16 and all(r.status == "pending" for r in a_rows)
        assert all(r.attempts == 0 for r in a_rows)  # put off is not an attempt
        b_attempts = await _attempted(db, b.merchant_id)

        async def b_recorded() -> bool:
            nonlocal b_attempts
            b_attempts = await _attempted(db, b.merchant_id)
            return len(b_attempts) == 4

        await wait_until(b_recorded)
        assert all(x.error is None and x.response_status == 200 for x in b_attempts)
        assert took < timeout - 1.5
    finally:
        await slow.stop()


async def test_deliveries_put_off_are_delivered_once_their_merchant_has_room(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    hook_settings: Settings,
) -> None:
    """One slot for the merchant and a receiver that hangs on the first request: the others
    wait their hold and are put off, handed back due a hold later, and go then, not when the
    lease they were put off under would have ended; each is attempted once, and delivered."""
    hung = asyncio.Event()

    def respond(_: Any) -> Reply:
        if not hung.is_set():
            hung.set()
            return Reply(mode="hang")
        return Reply()

    receiver.respond = respond
    clock = Stepped()
    receiver.clock = clock.monotonic
    await start_worker(
        webhook_max_connections=4,
        webhook_max_connections_per_merchant=1,
        webhook_timeout_seconds=1.5,  # the hanging attempt outlasts the others' hold (HOLD)
        webhook_retry_schedule="0",
        seams={"clock": clock},
    )
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    ids = await emit_test_events(db, merchant.merchant_id, 3, redis_url=hook_settings.redis_url)

    async def hanging() -> bool:
        return len(receiver.received) == 1

    async def hung_up() -> bool:
        return len(await _attempted(db, merchant.merchant_id)) == 1

    async def all_finished() -> bool:
        rows = await _rows(db, merchant.merchant_id)
        return all(r.status != "pending" for r in rows)

    # The clock moved through the others' hold, then, once the hanging attempt timed out (in
    # real time), through the hold they were put off for; the lease they were put off under
    # (timeout and margin) never ends.
    await wait_until(hanging)
    clock.advance(HOLD)
    await wait_until(hung_up)
    clock.advance(HOLD)
    await wait_until(all_finished, within=20)
    rows = {r.id: r for r in await _rows(db, merchant.merchant_id)}
    attempts = await _attempted(db, merchant.merchant_id)
    assert sorted(a.delivery_id for a in attempts) == sorted(ids)  # one attempt each
    assert sorted(r.status for r in rows.values()) == ["failed", "succeeded", "succeeded"]
    timed_out = [a for a in attempts if a.error is not None]
    assert len(timed_out) == 1 and timed_out[0].error.startswith("timeout")
    assert len(receiver.received) == 3
    # Put off, not kept waiting for their lease (timeout + margin) to end.
    assert receiver.received[1].at - receiver.received[0].at < 1.5 + LEASE_MARGIN
