"""Events that reach the receiver end to end: balance.low once per crossing, the default
schedule on the worker's clock."""

import json

import httpx
import pytest
from sqlalchemy import func, select

from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.settings import Settings
from tests.fixtures.clock import Stepped
from tests.fixtures.core import wait_until
from tests.fixtures.deliveries import SEND, step_through
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, Reply, make_endpoint
from tests.fixtures.workers import StartWorker

_D = table_of(WebhookDelivery)


async def test_balance_low_fires_once_per_crossing(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    await start_worker()
    merchant = await make_merchant(balance_cents=10_000, low_balance_threshold_cents=5_000)
    await make_endpoint(hook_client, merchant, receiver.url, event_types=["balance.low"])
    for amount in (3_000, 3_000, 1_000):  # 7,000 (above), 4,000 (crosses), 3,000 (stays below)
        sent = await hook_client.post(
            "/topup/send", json={**SEND, "amount_cents": amount}, headers=merchant.headers
        )
        assert sent.status_code == 200
    await hook_client.post(
        "/sandbox/fund", json={"amount_cents": 10_000}, headers=merchant.headers
    )  # 13,000: back above
    await hook_client.post(
        "/topup/send", json={**SEND, "amount_cents": 9_000}, headers=merchant.headers
    )  # 4,000: crosses again

    async def two() -> bool:
        return len(receiver.received) == 2

    await wait_until(two)
    bodies = [json.loads(r.body) for r in receiver.received]
    assert [b["type"] for b in bodies] == ["balance.low", "balance.low"]
    assert sorted(b["data"]["balance_cents"] for b in bodies) == [4_000, 4_000]
    assert bodies[0]["data"]["low_balance_threshold_cents"] == 5_000
    async with db.read() as conn:
        count = await conn.execute(
            select(func.count()).where(
                _D.c.merchant_id == merchant.merchant_id, _D.c.event_type == "balance.low"
            )
        )
        assert count.scalar_one() == 2


async def test_the_default_schedule_on_the_workers_clock(
    hook_client: httpx.AsyncClient,
    hook_settings: Settings,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    """0 s, 5 s, 35 s after the send, each within a second, on the clock the worker reads (moved
    through all but the last 0.1 s of each delay: ``step_through``). The timing is the
    worker's, not the store's, so one backend is enough."""
    if not hook_settings.database_url.startswith("sqlite"):
        pytest.skip("the schedule's timing does not depend on the backend")
    clock = Stepped()
    await start_worker(webhook_retry_schedule="0,5,30", seams={"clock": clock})
    receiver.clock = clock.monotonic
    receiver.respond = lambda _: Reply(status=500)
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    sent_at = clock.monotonic()
    await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
    await step_through(clock, db, merchant.merchant_id, [5.0, 30.0])

    async def three() -> bool:
        return len(receiver.received) == 3

    await wait_until(three)
    offsets = [r.at - sent_at for r in receiver.received]
    for offset, expected in zip(offsets, [0, 5, 35], strict=True):
        assert expected <= offset + 0.05 < expected + 1, offsets
