"""A replay job run by the worker: batch after batch, each with the job's progress, until every
delivery it matched is sent again with its own webhook-id."""

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, WebhookReplayJob, table_of
from gateway.values.clock import rfc3339, utcnow
from gateway.webhooks import replays
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker

_D = table_of(WebhookDelivery)
_J = table_of(WebhookReplayJob)


async def test_a_job_replays_its_deliveries_in_batches(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seven failed deliveries in batches of three: three batches, the job finished with seven
    enqueued, the receiver gets each event once more under its own webhook-id, and a delivery
    outside the filter (another merchant's) is left as it was."""
    monkeypatch.setattr(replays, "BATCH", 3)
    since = utcnow()
    merchant, other = await make_merchant(), await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    elsewhere = Receiver()
    await elsewhere.start()
    try:
        await make_endpoint(hook_client, other, elsewhere.url)
        ids = await emit_test_events(db, merchant.merchant_id, 7)
        kept = await emit_test_events(db, other.merchant_id, 2)
        async with db.transaction() as conn:  # as if their schedules had run out
            await conn.execute(
                update(_D).where(_D.c.id.in_(ids + kept)).values(status="failed", attempts=3)
            )
        await start_worker()

        made = await hook_client.post(
            "/webhooks/replays",
            json={"since": rfc3339(since), "status": "failed"},
            headers=merchant.headers,
        )
        assert made.status_code == 201, made.text
        job_id = made.json()["data"]["id"]
        assert made.json()["data"]["matched"] == 7
        job: dict[str, Any] = {}

        async def finished() -> bool:
            nonlocal job
            reply = await hook_client.get(f"/webhooks/replays/{job_id}", headers=merchant.headers)
            job = reply.json()["data"]
            return bool(job["status"] == "finished")

        await wait_until(finished)
        assert (job["matched"], job["enqueued"]) == (7, 7) and job["finished_at"] is not None
        async with db.read() as conn:
            leases = (
                await conn.execute(select(_J.c.generation).where(_J.c.id == job_id))
            ).scalar_one()
        assert leases == 3  # one lease a batch: 3 + 3 + 1

        async def all_sent() -> bool:
            return len(receiver.received) == 7

        await wait_until(all_sent)
        sent = {r.headers["x-aitopup-delivery"] for r in receiver.received}
        assert sent == set(ids)
        async with db.read() as conn:
            rows = (await conn.execute(select(_D).where(_D.c.id.in_(ids + kept)))).all()
        by_id = {r.id: r for r in rows}
        assert all(by_id[i].trigger == "replay" for i in ids)
        assert all(by_id[i].status == "failed" and by_id[i].trigger == "auto" for i in kept)
        assert elsewhere.received == []
    finally:
        await elsewhere.stop()
