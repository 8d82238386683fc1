"""Operational webhooks and mail, end to end: an endpoint failing until it is disabled warns its
merchant's owners by e-mail (a real SMTP server) and tells the merchant's other endpoints (real
receivers), in order and once each; a success after failures is ``endpoint.recovered``; a message
given up is ``delivery.exhausted``; and two failing endpoints do not feed each other without end.
Time is driven by moving the failure clock back, never by sleeping through it."""

import json
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select, update

from gateway.store.engine import Database
from gateway.store.models import (
    Event,
    Mail,
    MerchantUser,
    User,
    WebhookDelivery,
    table_of,
)
from gateway.values.clock import utcnow
from gateway.webhooks import event_types
from tests.fixtures.core import wait_until
from tests.fixtures.deliveries import endpoint_row, failing_for
from tests.fixtures.mail import Inbox, html_of, text_of
from tests.fixtures.merchants import MakeMerchant, add_member
from tests.fixtures.webhooks import Receiver, Reply, make_endpoint, running_receiver
from tests.fixtures.workers import StartWorker

_M = table_of(Mail)
_E = table_of(Event)
_D = table_of(WebhookDelivery)
_MU = table_of(MerchantUser)

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "user@example.com"}
DISABLE_AFTER = 3600  # the warning at half of it (the default share)
OPERATIONAL = ["endpoint.failing", "endpoint.disabled", "endpoint.recovered", "delivery.exhausted"]


def worker_settings(inbox: Inbox | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "webhook_retry_schedule": "0,0.3",
        "webhook_timeout_seconds": 1,
        "webhook_disable_after_seconds": DISABLE_AFTER,
    }
    if inbox is not None:
        found.update(smtp_url=SecretStr(inbox.url), mail_retry_schedule="0,0.2")
    return found


def types_of(receiver: Receiver) -> list[str]:
    return [r.headers["x-aitopup-event"] for r in receiver.received]


def bodies_of(receiver: Receiver, type_: str) -> list[dict[str, Any]]:
    found = [json.loads(r.body) for r in receiver.received]
    return [body for body in found if body["type"] == type_]


async def owner_mails(db: Database, merchant_id: str) -> int:
    async with db.read() as conn:
        found = select(func.count()).select_from(_M)
        found = found.where(_M.c.merchant_id == merchant_id, _M.c.kind.like("endpoint_%"))
        return int((await conn.execute(found)).scalar_one())


async def settled(db: Database, merchant_id: str) -> None:
    """Every delivery of the merchant's is over: succeeded or given up."""

    async def done() -> bool:
        async with db.read() as conn:
            found = select(func.count()).select_from(_D)
            found = found.where(_D.c.merchant_id == merchant_id, _D.c.status == "pending")
            return int((await conn.execute(found)).scalar_one()) == 0

    await wait_until(done)


async def test_failing_until_disabled_warns_the_owners_then_tells_the_other_endpoints(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
) -> None:
    await start_worker(**worker_settings(smtp_server))
    merchant = await make_merchant()
    owner = await add_member(db, merchant.merchant_id)
    developer = await add_member(db, merchant.merchant_id)
    await _make_developer(db, merchant.merchant_id, developer)
    async with running_receiver() as watcher, running_receiver() as legacy:
        receiver.respond = lambda _: Reply(status=500)
        # Every event, its own operational ones included, were they ever sent to it.
        failing = await make_endpoint(hook_client, merchant, f"{receiver.url}?token=s3cret-token")
        await make_endpoint(hook_client, merchant, watcher.url, event_types=OPERATIONAL)
        await make_endpoint(
            hook_client, merchant, legacy.url, event_types=["webhook.endpoint.disabled"]
        )

        async def watched(count: int) -> None:
            async def arrived() -> bool:
                return len(watcher.received) >= count

            await wait_until(arrived)

        # The first failure after success, then the message given up after its last retry.
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await watched(2)
        assert types_of(watcher) == ["endpoint.failing", "delivery.exhausted"]
        assert await owner_mails(db, merchant.merchant_id) == 0

        # Half the window: the owners are warned, once a run of failures. The messages given
        # up meanwhile are not told of again within the hour (the delivery log has them).
        await failing_for(db, failing["id"], DISABLE_AFTER // 2 + 1)
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)

        async def warned() -> bool:
            return len(smtp_server.received) == 1

        await wait_until(warned)
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await settled(db, merchant.merchant_id)
        assert await owner_mails(db, merchant.merchant_id) == 1
        assert len(watcher.received) == 2

        # Past the window: disabled, with its reason, the owners told.
        await failing_for(db, failing["id"], DISABLE_AFTER + 1)
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await watched(3)

        async def told() -> bool:
            return len(smtp_server.received) == 2 and len(legacy.received) == 1

        await wait_until(told)
        await settled(db, merchant.merchant_id)

    # In order, once each, each as its published contract says.
    for request in watcher.received + legacy.received:
        event_types.validate_body(request.headers["x-aitopup-event"], request.body)
    # The last attempt disabled the endpoint and so gave its message up; that message, the
    # fourth given up within the hour, is not told of either.
    assert types_of(watcher) == ["endpoint.failing", "delivery.exhausted", "endpoint.disabled"]
    assert len({r.webhook_id for r in watcher.received}) == 3
    [first] = bodies_of(watcher, "endpoint.failing")
    assert first["data"]["endpoint_id"] == failing["id"]
    assert first["data"]["last_attempt"]["response_status"] == 500
    [gone] = bodies_of(watcher, "endpoint.disabled")
    assert gone["data"]["endpoint_id"] == failing["id"]
    assert gone["data"]["trigger"] == "failing"
    assert gone["data"]["reason"].startswith("failing since")
    exhausted = bodies_of(watcher, "delivery.exhausted")
    assert {e["data"]["event_type"] for e in exhausted} == {"topup.delivered"}
    assert [e["data"]["attempts"] for e in exhausted] == [2]
    # Subscribers of the old name get it as before.
    assert types_of(legacy) == ["webhook.endpoint.disabled"]
    # The endpoint an event is about never gets it.
    assert set(types_of(receiver)) == {"topup.delivered"}

    # The owners only, a warning then the disabling; no secret of the endpoint's in them.
    warning, disabling = smtp_server.received
    assert [m["To"] for m in smtp_server.received] == [owner, owner]
    assert warning["Subject"].startswith("Webhook endpoint failing: http://127.0.0.1:")
    assert disabling["Subject"].startswith("Webhook endpoint disabled: http://127.0.0.1:")
    assert "will be disabled at" in text_of(warning)
    assert f"/dashboard/webhooks/endpoints/{failing['id']}" in html_of(warning)
    assert "failing since" in text_of(disabling)
    for message in smtp_server.received:
        for part in (text_of(message), html_of(message)):
            assert "s3cret-token" not in part and "whsec_" not in part
    row = await endpoint_row(db, failing["id"])
    assert not row.enabled and row.failing_warned_at is not None


async def _make_developer(db: Database, merchant_id: str, address: str) -> None:
    users = table_of(User)
    async with db.transaction() as conn:
        user_id = select(users.c.id).where(users.c.email == address).scalar_subquery()
        await conn.execute(
            update(_MU)
            .where(_MU.c.merchant_id == merchant_id, _MU.c.user_id == user_id)
            .values(role="developer")
        )


async def test_a_success_after_failures_is_recovered(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    await start_worker(**worker_settings())
    merchant = await make_merchant()
    replies = iter([Reply(status=503), Reply()])
    receiver.respond = lambda _: next(replies)
    flaky = await make_endpoint(
        hook_client, merchant, receiver.url, event_types=["topup.delivered"]
    )
    async with running_receiver() as watcher:
        await make_endpoint(hook_client, merchant, watcher.url)
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await settled(db, merchant.merchant_id)
    assert len(receiver.received) == 2  # the success was recorded at once
    operational = [t for t in types_of(watcher) if t != "topup.delivered"]
    assert operational == ["endpoint.failing", "endpoint.recovered"]
    [back] = bodies_of(watcher, "endpoint.recovered")
    assert back["data"]["endpoint_id"] == flaky["id"]
    row = await endpoint_row(db, flaky["id"])
    assert row.failing_since is None and row.enabled


async def test_two_failing_endpoints_do_not_feed_each_other(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """Each hears of the other's failure once; a delivery of an operational event given up
    makes no ``delivery.exhausted`` of its own."""
    await start_worker(**worker_settings())
    merchant = await make_merchant()
    receiver.respond = lambda _: Reply(status=500)
    first = await make_endpoint(hook_client, merchant, receiver.url)
    second = await make_endpoint(hook_client, merchant, receiver.url + "/other")
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)

    async def quiet() -> bool:
        # Both failing, each told of the other's failure and of the message it gave up.
        async with db.read() as conn:
            found = select(func.count()).select_from(_E)
            found = found.where(_E.c.merchant_id == merchant.merchant_id)
            return int((await conn.execute(found)).scalar_one()) >= 5

    await wait_until(quiet)
    await settled(db, merchant.merchant_id)
    async with db.read() as conn:
        found = await conn.execute(
            select(_E.c.type, func.count())
            .where(_E.c.merchant_id == merchant.merchant_id)
            .group_by(_E.c.type)
        )
        counts = {row[0]: row[1] for row in found}
        deliveries = await conn.execute(
            select(_D.c.endpoint_id, _E.c.payload)
            .join(_E, _E.c.id == _D.c.event_id)
            .where(_D.c.merchant_id == merchant.merchant_id, _E.c.type != "topup.delivered")
        )
        about = [(row[0], json.loads(row[1])["data"]["endpoint_id"]) for row in deliveries]
    assert counts == {"topup.delivered": 1, "endpoint.failing": 2, "delivery.exhausted": 2}
    assert sorted(about) == sorted(
        [(first["id"], second["id"])] * 2 + [(second["id"], first["id"])] * 2
    )


async def test_a_410_disables_at_once_with_its_reason(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
) -> None:
    """No warning and no ``endpoint.failing`` first: the endpoint said it is gone."""
    await start_worker(**worker_settings(smtp_server))
    merchant = await make_merchant()
    owner = await add_member(db, merchant.merchant_id)
    receiver.respond = lambda _: Reply(status=410)
    gone = await make_endpoint(hook_client, merchant, receiver.url, event_types=["topup.delivered"])
    async with running_receiver() as watcher:
        await make_endpoint(hook_client, merchant, watcher.url, event_types=OPERATIONAL)
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)

        async def told() -> bool:
            return len(watcher.received) == 2 and len(smtp_server.received) == 1

        await wait_until(told)
        await settled(db, merchant.merchant_id)
    assert sorted(types_of(watcher)) == ["delivery.exhausted", "endpoint.disabled"]
    [disabled] = bodies_of(watcher, "endpoint.disabled")
    assert disabled["data"]["endpoint_id"] == gone["id"]
    assert disabled["data"]["trigger"] == "gone"
    assert disabled["data"]["reason"] == "endpoint answered 410 Gone"
    [mail] = smtp_server.received
    assert mail["To"] == owner and mail["Subject"].startswith("Webhook endpoint disabled")
    assert "endpoint answered 410 Gone" in text_of(mail)


async def _events_by_type(db: Database, merchant_id: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    async with db.read() as conn:
        rows = await conn.execute(
            select(_E.c.type, _E.c.payload).where(_E.c.merchant_id == merchant_id)
        )
        for type_, payload in rows:
            found.setdefault(type_, []).append(json.loads(payload))
    return found


async def _deliveries_by_type(db: Database, merchant_id: str) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_D.c.event_type, func.count())
            .where(_D.c.merchant_id == merchant_id)
            .group_by(_D.c.event_type)
        )
        return {row[0]: int(row[1]) for row in rows}


async def test_twenty_failing_endpoints_make_a_bounded_number_of_operational_events(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """50 messages to 20 endpoints that all fail: each message is given up at each endpoint
    after its retries, yet ``delivery.exhausted`` is told once an endpoint an hour, and the
    merchant's operational events stop at its hourly count; their deliveries, failing too, make
    none of their own. Without the bounds the 1,000 messages given up made 19,000 deliveries."""
    per_hour = 30
    await start_worker(**worker_settings(), webhook_operational_events_per_hour=per_hour)
    merchant = await make_merchant(balance_cents=50 * 100)
    receiver.respond = lambda _: Reply(status=500)
    endpoints = [
        await make_endpoint(hook_client, merchant, f"{receiver.url}/{i}") for i in range(20)
    ]
    hours = {utcnow().replace(minute=0, second=0, microsecond=0)}
    for _ in range(50):
        sent = await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        assert sent.json()["code"] == 1001, sent.text

    async def given_up() -> bool:
        async with db.read() as conn:
            found = select(func.count()).select_from(_D)
            found = found.where(
                _D.c.merchant_id == merchant.merchant_id,
                _D.c.event_type == "topup.delivered",
                _D.c.status == "failed",
            )
            return int((await conn.execute(found)).scalar_one()) == 50 * 20

    await wait_until(given_up, within=120)
    hours.add(utcnow().replace(minute=0, second=0, microsecond=0))
    windows = len(hours)  # the test may straddle the top of an hour: each has its own counts
    events = await _events_by_type(db, merchant.merchant_id)
    operational = {t: len(found) for t, found in events.items() if t != "topup.delivered"}
    assert set(operational) <= {"endpoint.failing", "delivery.exhausted"}
    assert sum(operational.values()) <= per_hour * windows
    # One delivery.exhausted an endpoint an hour, whatever it gave up.
    about = [e["data"]["endpoint_id"] for e in events.get("delivery.exhausted", [])]
    assert all(about.count(e["id"]) <= windows for e in endpoints)
    await settled(db, merchant.merchant_id)
    # Their deliveries failed and were given up too, and told of nothing more.
    again = await _events_by_type(db, merchant.merchant_id)
    assert {t: len(found) for t, found in again.items()} == {
        "topup.delivered": 50,
        **operational,
    }
    deliveries = await _deliveries_by_type(db, merchant.merchant_id)
    assert deliveries.pop("topup.delivered") == 50 * 20
    # Each operational event to the 19 endpoints it is not about, and no further.
    assert deliveries == {t: count * 19 for t, count in operational.items()}
    assert sum(deliveries.values()) <= per_hour * 19 * windows


async def test_a_failed_operational_delivery_tells_of_no_failure(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """An endpoint that hears only operational events and fails them starts its failure clock
    (it may still be disabled) but makes no ``endpoint.failing``: one operational event is
    never caused by another's failure."""
    await start_worker(**worker_settings())
    merchant = await make_merchant()
    receiver.respond = lambda _: Reply(status=500)
    failing = await make_endpoint(
        hook_client, merchant, receiver.url, event_types=["topup.delivered"]
    )
    watcher = await make_endpoint(
        hook_client, merchant, receiver.url + "/ops", event_types=OPERATIONAL
    )
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    await settled(db, merchant.merchant_id)
    events = await _events_by_type(db, merchant.merchant_id)
    about = sorted(
        (t, e["data"]["endpoint_id"])
        for t, found in events.items()
        for e in found
        if t != "topup.delivered"
    )
    assert about == [("delivery.exhausted", failing["id"]), ("endpoint.failing", failing["id"])]
    row = await endpoint_row(db, watcher["id"])
    assert row.failing_since is not None and row.enabled


async def test_a_message_delivered_after_failures_is_told_recovered_once(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """Two failures then a success: ``delivery.recovered`` once, with the failures counted; a
    message that failed once (under AITOPUP_WEBHOOK_RECOVERED_AFTER_FAILURES) is not told."""
    await start_worker(**{**worker_settings(), "webhook_retry_schedule": "0,0,0,0"})
    merchant = await make_merchant()
    replies = iter([Reply(status=500), Reply(status=503), Reply(), Reply(status=500), Reply()])
    receiver.respond = lambda _: next(replies)
    flaky = await make_endpoint(
        hook_client, merchant, receiver.url, event_types=["topup.delivered"]
    )
    async with running_receiver() as watcher:
        await make_endpoint(hook_client, merchant, watcher.url)
        sent = await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await settled(db, merchant.merchant_id)
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await settled(db, merchant.merchant_id)
    assert len(receiver.received) == 5
    [told] = bodies_of(watcher, "delivery.recovered")
    assert told["data"]["endpoint_id"] == flaky["id"]
    assert told["data"]["failed_attempts"] == 2
    assert told["data"]["event_type"] == "topup.delivered"
    assert told["data"]["event_id"] == receiver.received[0].webhook_id
    assert sent.json()["transaction_id"] in receiver.received[0].body.decode()
    event_types.BY_TYPE["delivery.recovered"].data.model_validate(told["data"])
