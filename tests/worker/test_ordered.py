"""Ordered endpoints: each event arrives after the one before it succeeded or was given up, with
two workers leasing at once, a receiver failing at random and a worker stopped mid-attempt;
the merchant's plain endpoints are not held back."""

import asyncio
import itertools
import json
import random
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook

from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.store.raw import Raw, Statement
from gateway.values.settings import Settings
from gateway.webhooks import event_types
from gateway.webhooks.batches import batch_id
from tests.fixtures.clock import Stepped
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import (
    Received,
    Receiver,
    Reply,
    emit_test_events,
    make_endpoint,
    only_delivery,
    running_receiver,
)
from tests.fixtures.workers import StartWorker, spawn_worker
from worker import ordered
from worker.delivery import LEASE_MARGIN

_D = table_of(WebhookDelivery)

# Enough tries that a random failure never gives a message up.
# Enough quick retries that a random failure never gives an event up, and a timeout far past
# what an answer takes: the receivers share the workers' event loop, and on a busy machine a 200
# the worker did not read within the 2 s default was sent again (at least once, as it should be,
# but not the "each once" these tests count).
PATIENT = {
    "webhook_retry_schedule": ",".join(["0"] + ["0.01"] * 15),
    "webhook_timeout_seconds": 30,
}


def sequence(request: Received) -> int:
    """The event's number, as ``emit_test_events`` wrote it: "Test event <n>."."""
    message: str = json.loads(request.body)["data"]["message"]
    return int(message.removeprefix("Test event ").removesuffix("."))


class Flaky:
    """A receiver's replies: a 500 at random (seeded), else 200; every request's number and
    whether it was answered 200, in the order they came."""

    def __init__(self, seed: int, failures: float) -> None:
        self.chance = random.Random(seed)
        self.failures = failures
        self.log: list[tuple[int, bool]] = []

    def __call__(self, request: Received) -> Reply:
        ok = self.chance.random() >= self.failures
        self.log.append((sequence(request), ok))
        return Reply() if ok else Reply(status=500)

    def succeeded(self) -> list[int]:
        return [number for number, ok in self.log if ok]

    def assert_in_order(self, count: int) -> None:
        """Each request was for the event after the last one that succeeded (its first try, or
        a retry after a 500): nothing went before its predecessor succeeded, nothing twice."""
        expected = 0
        for number, ok in self.log:
            assert number == expected, (number, expected)
            expected += ok
        assert expected == count


async def statuses(db: Database, endpoint_id: str) -> dict[str, int]:
    async with db.read() as conn:
        rows = (
            await conn.execute(select(_D.c.status).where(_D.c.endpoint_id == endpoint_id))
        ).all()
    found: dict[str, int] = {}
    for (status,) in rows:
        found[status] = found.get(status, 0) + 1
    return found


async def test_an_ordered_endpoint_is_created_read_and_changed(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver
) -> None:
    merchant = await make_merchant()
    plain = await make_endpoint(hook_client, merchant, receiver.url)
    assert plain["ordered"] is False
    made = await make_endpoint(hook_client, merchant, receiver.url, ordered=True)
    assert made["ordered"] is True
    path = f"/webhooks/endpoints/{made['id']}"
    read = await hook_client.get(path, headers=merchant.headers)
    assert read.json()["data"]["ordered"] is True

    changed = await hook_client.patch(path, json={"ordered": False}, headers=merchant.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["ordered"] is False

    for bad in ("yes", None, 1):
        refused = await hook_client.patch(path, json={"ordered": bad}, headers=merchant.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == 3001, refused.text
    still = await hook_client.get(path, headers=merchant.headers)
    assert still.json()["data"]["ordered"] is False


async def test_events_arrive_in_order_each_once_while_a_plain_endpoint_goes_at_full_speed(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """Two workers race for one ordered endpoint's rows while three in ten of its answers are
    500s. Two hundred events are some sixty failures to retry in place, each a chance to send
    the next too soon or twice (which ``assert_in_order`` catches at its first), and the plain
    endpoint's two hundred are done while the ordered one is still at it."""
    count = 200
    flaky = Flaky(53, 0.3)
    plain: list[int] = []

    def plain_reply(request: Received) -> Reply:
        plain.append(sequence(request))
        return Reply()

    async with running_receiver() as ordered_rx, running_receiver() as plain_rx:
        ordered_rx.respond = flaky
        plain_rx.respond = plain_reply
        merchant = await make_merchant()
        tests_only = {"event_types": ["webhook.test"]}
        ordered = await make_endpoint(
            hook_client, merchant, ordered_rx.url, ordered=True, **tests_only
        )
        await make_endpoint(hook_client, merchant, plain_rx.url, **tests_only)
        # Two workers lease at once: rows of the one ordered endpoint race between them.
        await start_worker(**PATIENT)
        await start_worker(**PATIENT)
        await emit_test_events(db, merchant.merchant_id, count)

        async def all_plain() -> bool:
            return len(plain) == count

        await wait_until(all_plain, within=60)
        # The plain endpoint was not held back behind the ordered one's failures.
        assert len(flaky.succeeded()) < count

        async def all_ordered() -> bool:
            return len(flaky.succeeded()) == count

        await wait_until(all_ordered, within=180)
        flaky.assert_in_order(count)

        async def recorded() -> bool:
            return await statuses(db, ordered["id"]) == {"succeeded": count}

        await wait_until(recorded)


async def test_a_message_given_up_lets_the_next_go_and_the_gap_is_told(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    log: list[tuple[int, bool]] = []

    def refuse_one(request: Received) -> Reply:
        number = sequence(request)
        log.append((number, number != 1))
        return Reply(status=500) if number == 1 else Reply()

    await start_worker(webhook_retry_schedule="0,0,0")
    merchant = await make_merchant()
    async with running_receiver() as ordered_rx, running_receiver() as watcher:
        ordered_rx.respond = refuse_one
        ordered = await make_endpoint(
            hook_client, merchant, ordered_rx.url, ordered=True, event_types=["webhook.test"]
        )
        await make_endpoint(hook_client, merchant, watcher.url, event_types=["delivery.skipped"])
        await emit_test_events(db, merchant.merchant_id, 5)

        async def told() -> bool:
            return len(log) == 7 and len(watcher.received) == 1

        await wait_until(told, within=30)
        assert log == [
            (0, True),
            (1, False),
            (1, False),
            (1, False),
            (2, True),
            (3, True),
            (4, True),
        ]
        skipped = json.loads(watcher.received[0].body)
        assert skipped["type"] == "delivery.skipped"
        given_up = next(r for r in ordered_rx.received if sequence(r) == 1)
        assert skipped["data"]["event_id"] == given_up.webhook_id
        assert skipped["data"]["endpoint_id"] == ordered["id"]
        assert skipped["data"]["attempts"] == 3
        event_types.BY_TYPE["delivery.skipped"].data.model_validate(skipped["data"])

        async def recorded() -> bool:
            return await statuses(db, ordered["id"]) == {"succeeded": 4, "failed": 1}

        await wait_until(recorded)


async def test_a_worker_stopped_mid_attempt_does_not_reorder(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """The head's attempt is cut off with its worker; its lease lapses, and another worker
    sends it again before anything after it."""
    log: list[int] = []
    hang = [True]

    def first_hangs(request: Received) -> Reply:
        log.append(sequence(request))
        if hang[0]:
            return Reply(mode="hang")
        return Reply()

    fast = {"webhook_timeout_seconds": 0.5, "webhook_retry_schedule": "0,0,0"}
    merchant = await make_merchant()
    async with running_receiver() as ordered_rx:
        ordered_rx.respond = first_hangs
        ordered = await make_endpoint(hook_client, merchant, ordered_rx.url, ordered=True)
        dying = await start_worker(**fast)
        await emit_test_events(db, merchant.merchant_id, 4)

        async def holding() -> bool:
            return log == [0]

        await wait_until(holding)
        await dying.service.stop()  # mid-attempt: its lease is left to lapse
        hang[0] = False
        await start_worker(**fast)

        async def all_sent() -> bool:
            return await statuses(db, ordered["id"]) == {"succeeded": 4}

        await wait_until(all_sent, within=30)
        assert log == [0, 0, 1, 2, 3]


async def test_a_worker_killed_mid_delivery_does_not_reorder(
    hook_client: httpx.AsyncClient,
    hook_settings: Settings,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    tmp_path: Path,
) -> None:
    """A worker process, SIGKILLed while its request for an ordered endpoint's head is at the
    receiver, leaves that head leased; once the lease ends another worker sends the head again
    and only then the events after it: every request is for the event after the last one that
    succeeded, or a retry of it, and each event's webhook-id is its own across retries."""
    count = 40
    flaky = Flaky(530, 0.2)
    hung = asyncio.Event()

    def hang_at_ten(request: Received) -> Reply:
        if sequence(request) == 10 and not hung.is_set():
            hung.set()
            flaky.log.append((10, False))  # cut off with its worker: to be sent again
            return Reply(mode="hang")
        return flaky(request)

    timeout = 30  # far longer than the test takes: the lease, not a timeout, frees the head
    schedule = ",".join(["0"] + ["0.01"] * 15)
    async with running_receiver() as ordered_rx:
        ordered_rx.respond = hang_at_ten
        merchant = await make_merchant()
        ordered = await make_endpoint(
            hook_client, merchant, ordered_rx.url, ordered=True, event_types=["webhook.test"]
        )
        dying = spawn_worker(
            hook_settings,
            tmp_path,
            "dying",
            AITOPUP_WEBHOOK_TIMEOUT_SECONDS=str(timeout),
            AITOPUP_WEBHOOK_RETRY_SCHEDULE=schedule,
        )
        try:
            await emit_test_events(db, merchant.merchant_id, count)
            await asyncio.wait_for(hung.wait(), 60)
            dying.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(dying.wait, 10) == -signal.SIGKILL
        finally:
            if dying.poll() is None:
                dying.kill()
                await asyncio.to_thread(dying.wait, 10)
        assert await statuses(db, ordered["id"]) == {"succeeded": 10, "pending": count - 10}
        before = len(flaky.log)

        clock = Stepped()
        await start_worker(
            webhook_timeout_seconds=timeout,
            webhook_retry_schedule=schedule,
            seams={"clock": clock},
        )
        # The killed worker's lease on the head ends: nothing of the endpoint went before it.
        clock.advance(timeout + LEASE_MARGIN)

        async def all_sent() -> bool:
            return await statuses(db, ordered["id"]) == {"succeeded": count}

        await wait_until(all_sent, within=60)
        flaky.assert_in_order(count)
        assert flaky.log[before][0] == 10  # the head, sent again first
        ids: dict[int, str] = {}
        for request in ordered_rx.received:
            assert ids.setdefault(sequence(request), request.webhook_id) == request.webhook_id
        assert len(set(ids.values())) == count


def numbers(body: bytes) -> list[int]:
    """The events' numbers in a batch's body, in the order it holds them."""
    return [int(e["data"]["message"].split()[-1].rstrip(".")) for e in json.loads(body)]


async def test_a_batch_size_is_set_read_and_refused_out_of_bounds(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver
) -> None:
    merchant = await make_merchant()
    plain = await make_endpoint(hook_client, merchant, receiver.url)
    assert plain["batch_size"] == 1
    made = await make_endpoint(hook_client, merchant, receiver.url, ordered=True, batch_size=10)
    assert made["batch_size"] == 10
    path = f"/webhooks/endpoints/{made['id']}"
    changed = await hook_client.patch(path, json={"batch_size": 100}, headers=merchant.headers)
    assert changed.json()["data"]["batch_size"] == 100, changed.text

    for bad in (0, 101, -1, None):
        refused = await hook_client.patch(path, json={"batch_size": bad}, headers=merchant.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == 5336, refused.text
        assert refused.json()["data"] == {"min": 1, "max": 100}
    # Batches keep an order: an endpoint without one takes no batch size above 1.
    unordered = await hook_client.patch(path, json={"ordered": False}, headers=merchant.headers)
    assert unordered.json()["code"] == 5337, unordered.text
    both = await hook_client.patch(
        path, json={"ordered": False, "batch_size": 1}, headers=merchant.headers
    )
    assert both.json()["data"]["batch_size"] == 1, both.text
    refused = await hook_client.post(
        "/webhooks/endpoints",
        json={"url": receiver.url, "batch_size": 5},
        headers=merchant.headers,
    )
    assert refused.json()["code"] == 5337, refused.text
    refused = await hook_client.post(
        "/webhooks/endpoints",
        json={"url": receiver.url, "ordered": True, "batch_size": 500},
        headers=merchant.headers,
    )
    assert refused.json()["code"] == 5336, refused.text
    still = await hook_client.get(path, headers=merchant.headers)
    assert still.json()["data"]["batch_size"] == 1


async def test_a_burst_arrives_in_order_in_batches_each_once_a_failed_batch_sent_again_whole(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    # Some fourteen batches, a few of them failed and sent again (seeded), two workers racing
    # for them: each a chance to split, reorder or repeat a batch, caught at its first.
    count, size = 100, 7
    chance = random.Random(5336)
    log: list[tuple[str, list[int], bool]] = []  # webhook-id, events, answered 200

    def flaky(request: Received) -> Reply:
        ok = chance.random() >= 0.3
        log.append((request.webhook_id, numbers(request.body), ok))
        return Reply() if ok else Reply(status=500)

    async with running_receiver() as rx:
        rx.respond = flaky
        merchant = await make_merchant()
        made = await make_endpoint(
            hook_client,
            merchant,
            rx.url,
            ordered=True,
            batch_size=size,
            event_types=["webhook.test"],
        )
        # Two workers lease at once: the endpoint's rows race between them.
        await start_worker(**PATIENT)
        await start_worker(**PATIENT)
        await emit_test_events(db, merchant.merchant_id, count)

        async def all_sent() -> bool:
            return await statuses(db, made["id"]) == {"succeeded": count}

        await wait_until(all_sent, within=120)
        delivered = [n for _, events, ok in log if ok for n in events]
        assert delivered == list(range(count))  # in order, each once
        assert all(1 <= len(events) <= size for _, events, _ in log)
        assert max(len(events) for _, events, _ in log) == size  # a burst goes in batches
        for (before, events, ok), (after, again, _) in itertools.pairwise(log):
            if not ok:  # a failed batch is the next request: the same events, the same id
                assert (after, again) == (before, events)
        ids = {webhook_id for webhook_id, _, ok in log if ok}
        assert len(ids) == len([ok for _, _, ok in log if ok])  # a batch's id is its own
        for request in rx.received:
            verified = Webhook(made["secret"]).verify(request.body, request.headers)
            assert isinstance(verified, list)
            event_ids = [str(e["id"]) for e in verified]
            assert request.webhook_id == batch_id(event_ids[0], event_ids[-1])
            assert request.headers["x-aitopup-batch-size"] == str(len(event_ids))


async def test_a_batch_given_up_gives_up_each_of_its_events_and_the_next_batch_goes(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    log: list[list[int]] = []

    def refuse_the_first(request: Received) -> Reply:
        events = numbers(request.body)
        log.append(events)
        return Reply(status=500) if 0 in events else Reply()

    await start_worker(webhook_retry_schedule="0,0")
    merchant = await make_merchant()
    async with running_receiver() as rx, running_receiver() as watcher:
        rx.respond = refuse_the_first
        made = await make_endpoint(
            hook_client, merchant, rx.url, ordered=True, batch_size=3, event_types=["webhook.test"]
        )
        await make_endpoint(hook_client, merchant, watcher.url, event_types=["delivery.skipped"])
        await emit_test_events(db, merchant.merchant_id, 5)

        async def told() -> bool:
            return len(log) == 3 and len(watcher.received) == 3

        await wait_until(told, within=30)
        assert log == [[0, 1, 2], [0, 1, 2], [3, 4]]
        skipped = [json.loads(r.body)["data"]["event_id"] for r in watcher.received]
        first = json.loads(rx.received[0].body)
        assert sorted(skipped) == sorted(e["id"] for e in first)

        async def recorded() -> bool:
            return await statuses(db, made["id"]) == {"succeeded": 2, "failed": 3}

        await wait_until(recorded)


async def test_a_test_event_to_a_batching_endpoint_is_an_array_of_one(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    receiver: Receiver,
) -> None:
    """A receiver of batches reads one shape, whatever sent it: a test (or a replay), outside
    the order, is a batch of its one event."""
    await start_worker()
    merchant = await make_merchant()
    made = await make_endpoint(hook_client, merchant, receiver.url, ordered=True, batch_size=5)
    sent = await hook_client.post(
        f"/webhooks/endpoints/{made['id']}/test", headers=merchant.headers
    )
    assert sent.status_code < 300, sent.text
    request = await only_delivery(receiver)
    [event] = Webhook(made["secret"]).verify(request.body, request.headers)
    assert event["type"] == "webhook.test"
    assert request.webhook_id == batch_id(event["id"], event["id"])


async def test_the_next_goes_as_soon_as_the_one_before_it_is_recorded(
    hook_client: httpx.AsyncClient,
    hook_settings: Settings,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """The record that finishes a head makes the next one due and wakes its lane: the next is
    not left to the put-off time (the head's lease end, here 35 s on) or the idle poll (60 s)
    that the lane last read."""
    log: list[int] = []

    def note(request: Received) -> Reply:
        log.append(sequence(request))
        return Reply()

    await start_worker(webhook_timeout_seconds=30, worker_idle_poll_seconds=60)
    merchant = await make_merchant()
    async with running_receiver() as rx:
        rx.respond = note
        made = await make_endpoint(
            hook_client, merchant, rx.url, ordered=True, event_types=["webhook.test"]
        )
        await emit_test_events(db, merchant.merchant_id, 20, redis_url=hook_settings.redis_url)

        async def all_sent() -> bool:
            return await statuses(db, made["id"]) == {"succeeded": 20}

        await wait_until(all_sent, within=20)
        assert log == list(range(20))


async def test_a_lease_s_ordered_endpoints_have_their_heads_read_in_one_statement(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The heads of every ordered endpoint a lease holds rows of are read in one statement, not
    one each; each endpoint's the same two rows its own read finds (its oldest pending
    deliveries of an automatic run, in order): one whose first was delivered starts at its
    second, one with none pending has none. Past ``HEADS_AT_ONCE`` endpoints, a statement each
    so many, the last group padded."""
    merchant = await make_merchant()
    made = [
        (await make_endpoint(hook_client, merchant, receiver.url, ordered=True))["id"]
        for _ in range(7)
    ]
    ids = await emit_test_events(db, merchant.merchant_id, 3)
    async with db.transaction() as conn:
        oldest = (
            select(_D.c.id)
            .where(_D.c.endpoint_id == made[1], _D.c.id.in_(ids))
            .order_by(_D.c.created_at, _D.c.id)
        )
        first = (await conn.execute(oldest)).scalars().first()
        for done in (_D.c.id == first, _D.c.endpoint_id == made[2]):
            await conn.execute(update(_D).where(done).values(status="succeeded"))
        expected = {}
        for endpoint_id in made:
            rows = await conn.execute(
                select(_D.c.id)
                .where(_D.c.endpoint_id == endpoint_id, _D.c.status == "pending")
                .order_by(_D.c.created_at, _D.c.id)
                .limit(2)
            )
            expected[endpoint_id] = list(rows.scalars())
    assert [len(expected[e]) for e in made] == [2, 2, 0, 2, 2, 2, 2]

    read: list[Statement] = []
    fetch = Raw.fetch

    async def counted(self: Raw, statement: Statement, params: dict[str, Any]) -> Any:
        read.append(statement)
        return await fetch(self, statement, params)

    monkeypatch.setattr(Raw, "fetch", counted)

    async def heads(tx: Raw) -> dict[str, list[str]]:
        found = await ordered._heads_of(tx, made)
        return {endpoint_id: [row["id"] for row in rows] for endpoint_id, rows in found.items()}

    assert await db.run(heads) == expected
    assert len(read) == 1
    read.clear()
    monkeypatch.setattr(ordered, "HEADS_AT_ONCE", 4)
    assert await db.run(heads) == expected
    assert len(read) == 2
