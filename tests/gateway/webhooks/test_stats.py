"""An endpoint's stats: its deliveries of a time range by state, its attempts' latency by the
nearest rank, only the caller's own endpoint, and a range at most 28 days long."""

from datetime import datetime, timedelta

import httpx
from sqlalchemy import insert

from gateway.store.engine import Database
from gateway.store.models import DeliveryAttempt, Event, WebhookDelivery, table_of
from gateway.values.clock import new_id, rfc3339, utcnow
from gateway.values.code_names import Code
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.webhooks import Receiver, make_endpoint

_E, _D, _A = table_of(Event), table_of(WebhookDelivery), table_of(DeliveryAttempt)


async def _delivery(
    db: Database,
    merchant: MerchantKey,
    endpoint_id: str,
    *,
    status: str,
    durations: list[int],
    at: datetime,
) -> None:
    """A delivery of the endpoint created ``at``, in ``status``, with an attempt per duration."""
    event_id, delivery_id = new_id("evt"), new_id("dlv")
    async with db.transaction() as conn:
        await conn.execute(
            insert(_E).values(
                id=event_id,
                env="staging",
                merchant_id=merchant.merchant_id,
                type="topup.delivered",
                payload="{}",
                created_at=at,
            )
        )
        await conn.execute(
            insert(_D).values(
                id=delivery_id,
                event_id=event_id,
                endpoint_id=endpoint_id,
                env="staging",
                merchant_id=merchant.merchant_id,
                event_type="topup.delivered",
                status=status,
                attempts=len(durations),
                next_attempt_at=None if status != "pending" else at,
                created_at=at,
                updated_at=at,
            )
        )
        for number, ms in enumerate(durations, start=1):
            await conn.execute(
                insert(_A).values(
                    delivery_id=delivery_id,
                    attempt=number,
                    trigger="auto",
                    started_at=at,
                    duration_ms=ms,
                    url="https://example.com/hook",
                    request_headers="{}",
                    request_body="{}",
                )
            )


async def test_stats_count_each_state_and_rank_the_latencies(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver, db: Database
) -> None:
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url)
    other = await make_endpoint(hook_client, merchant, receiver.url)
    now = utcnow()
    recent = now - timedelta(hours=1)
    for ms in range(1, 9):  # eight succeeded at once: 1..8 ms
        await _delivery(db, merchant, endpoint["id"], status="succeeded", durations=[ms], at=recent)
    await _delivery(
        db, merchant, endpoint["id"], status="succeeded", durations=[900, 10], at=recent
    )
    await _delivery(db, merchant, endpoint["id"], status="pending", durations=[], at=recent)
    await _delivery(db, merchant, endpoint["id"], status="pending", durations=[50], at=recent)
    await _delivery(db, merchant, endpoint["id"], status="failed", durations=[5000], at=recent)
    # Outside the default day, and another endpoint's: neither counted.
    await _delivery(
        db, merchant, endpoint["id"], status="failed", durations=[1], at=now - timedelta(days=3)
    )
    await _delivery(db, merchant, other["id"], status="failed", durations=[1], at=recent)

    reply = await hook_client.get(
        f"/webhooks/endpoints/{endpoint['id']}/stats", headers=merchant.headers
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert (data["succeeded"], data["pending"], data["sending"], data["failed"]) == (9, 1, 1, 1)
    # 12 attempts: 1..8, 10, 50, 900, 5000. Nearest rank: p50 the 6th, p90 the 11th, p99 the 12th.
    assert data["latency"] == {"attempts": 12, "p50_ms": 6, "p90_ms": 900, "p99_ms": 5000}

    week = {"since": rfc3339(now - timedelta(days=7)), "until": rfc3339(now)}
    wider = await hook_client.get(
        f"/webhooks/endpoints/{endpoint['id']}/stats", params=week, headers=merchant.headers
    )
    assert wider.json()["data"]["failed"] == 2


async def test_stats_refuse_a_bad_range_and_another_merchants_endpoint(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver
) -> None:
    merchant, stranger = await make_merchant(), await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url)
    path = f"/webhooks/endpoints/{endpoint['id']}/stats"
    now = utcnow()
    empty = await hook_client.get(path, headers=merchant.headers)
    assert empty.json()["data"]["latency"] == {
        "attempts": 0,
        "p50_ms": None,
        "p90_ms": None,
        "p99_ms": None,
    }
    cases = [
        ({"since": rfc3339(now - timedelta(days=29)), "until": rfc3339(now)}, 422, 5330),
        ({"since": rfc3339(now), "until": rfc3339(now - timedelta(hours=1))}, 422, 5321),
        ({"since": "yesterday"}, 422, None),
        ({"limit": "5"}, 422, None),
    ]
    for params, status, code in cases:
        refused = await hook_client.get(path, params=params, headers=merchant.headers)
        assert refused.status_code == status, refused.text
        assert refused.json()["success"] is False
        if code is not None:
            assert refused.json()["code"] == code
    theirs = await hook_client.get(path, headers=stranger.headers)
    assert theirs.status_code == 404
    assert theirs.json()["code"] == Code.WEBHOOK_ENDPOINT_NOT_FOUND
