"""Recovery between two times, and a filtered replay as one job: its count when it is made, its
bounds, and a merchant's job touching only its own deliveries in its own environment. (The
worker's batches: ``tests/worker/test_replay_jobs.py``.)"""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, insert, select, update

from gateway import outbox
from gateway.app import create_app
from gateway.ops import openapi
from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, WebhookReplayJob, table_of
from gateway.values.clock import id_floor, rfc3339, utcnow
from gateway.values.settings import Settings
from gateway.webhooks import replays
from gateway.webhooks.retention import prune_batch
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.openapi import reply_of
from tests.fixtures.webhooks import fail_leftovers

PUBLIC_URL = "http://93.184.215.14/hook"
_D = table_of(WebhookDelivery)
_J = table_of(WebhookReplayJob)


@pytest.fixture(autouse=True)
async def _no_leftovers(db: Database) -> Any:
    yield None
    await fail_leftovers(db)  # no worker runs here; keep later workers from sending these
    async with db.transaction() as conn:
        await conn.execute(update(_J).where(_J.c.status == "pending").values(status="failed"))


async def _endpoint(client: httpx.AsyncClient, merchant: MerchantKey, **extra: Any) -> str:
    reply = await client.post(
        "/webhooks/endpoints", json={"url": PUBLIC_URL, **extra}, headers=merchant.headers
    )
    assert reply.status_code == 201, reply.text
    endpoint_id: str = reply.json()["data"]["id"]
    return endpoint_id


async def _failed(
    db: Database, merchant: MerchantKey, count: int, type_: str = "webhook.test"
) -> list[str]:
    """``count`` events of ``merchant`` fanned out to its endpoints, every delivery failed."""
    ids: list[str] = []
    async with db.transaction() as conn:
        for n in range(count):
            ids += await outbox.emit(
                conn,
                env=merchant.env,
                merchant_id=merchant.merchant_id,
                type_=type_,
                data={"endpoint_id": "we_" + "0" * 24, "message": f"Test event {n}."},
                now=utcnow(),
            )
        await conn.execute(update(_D).where(_D.c.id.in_(ids)).values(status="failed", attempts=3))
    return ids


async def _states(db: Database) -> list[tuple[str, str, str]]:
    async with db.read() as conn:
        rows = await conn.execute(select(_D.c.id, _D.c.status, _D.c.trigger).order_by(_D.c.id))
        return [(r.id, r.status, r.trigger) for r in rows]


async def _jobs(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(_J))).scalar_one())


def _window() -> dict[str, str]:
    now = utcnow()
    since, until = now - timedelta(hours=1), now + timedelta(minutes=1)
    return {"since": rfc3339(since), "until": rfc3339(until)}


async def test_recover_between_two_times(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    endpoint_id = await _endpoint(client, merchant)
    early = await _failed(db, merchant, 2)
    middle = utcnow().isoformat()  # to the microsecond
    late = await _failed(db, merchant, 3)
    path = f"/webhooks/endpoints/{endpoint_id}/replay-failed"

    before = await client.post(
        path, json={"since": "2000-01-01T00:00:00Z", "until": middle},
        headers=merchant.headers,
    )  # fmt: skip
    assert before.status_code == 200, before.text
    assert before.json()["data"]["delivery_ids"] == sorted(early)

    backwards = await client.post(
        path, json={"since": middle, "until": middle}, headers=merchant.headers
    )
    assert backwards.status_code == 422 and backwards.json()["code"] == 5321
    after = await client.post(path, json={"since": middle}, headers=merchant.headers)
    assert after.json()["data"]["delivery_ids"] == sorted(late)


async def test_a_replay_job_is_made_with_its_count_and_read_back(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    first = await _endpoint(client, merchant)
    await _endpoint(client, merchant)  # for the filter by endpoint to leave out
    await _failed(db, merchant, 4)  # 8 deliveries: 4 to each endpoint
    async with db.transaction() as conn:  # one of the first endpoint's succeeded after all
        one = await conn.execute(select(func.min(_D.c.id)).where(_D.c.endpoint_id == first))
        await conn.execute(update(_D).where(_D.c.id == one.scalar_one()).values(status="succeeded"))
    before = await _states(db)

    made = await client.post(
        "/webhooks/replays",
        json={
            **_window(),
            "endpoint_id": first,
            "status": "failed",
            "event_types": ["webhook.test"],
        },
        headers=merchant.headers,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["code"] == 1004
    job = body["data"]
    assert job["id"].startswith("wrj_") and job["status"] == "running"
    assert (job["matched"], job["enqueued"]) == (3, 0)
    assert job["filter"]["endpoint_id"] == first and job["filter"]["status"] == "failed"
    assert await _states(db) == before  # the worker replays them, not the request

    read = await client.get(f"/webhooks/replays/{job['id']}", headers=merchant.headers)
    assert read.status_code == 200 and read.json()["data"] == job

    both = await client.post("/webhooks/replays", json=_window(), headers=merchant.headers)
    assert both.json()["data"]["matched"] == 8  # failed and succeeded, both endpoints

    nothing = await client.post(
        "/webhooks/replays",
        json={**_window(), "event_types": ["topup.delivered"]},
        headers=merchant.headers,
    )
    assert nothing.status_code == 201
    assert nothing.json()["data"]["matched"] == 0
    assert nothing.json()["data"]["status"] == "finished"


async def test_a_job_only_ever_sees_its_own_merchant_and_environment(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    staging = await make_merchant()
    live = await make_merchant("live", merchant_id=staging.merchant_id)
    other = await make_merchant()
    mine = await _endpoint(client, staging)
    await _endpoint(client, live)
    theirs = await _endpoint(client, other)
    await _failed(db, staging, 2)
    await _failed(db, live, 3)
    await _failed(db, other, 4)

    made = await client.post("/webhooks/replays", json=_window(), headers=staging.headers)
    assert made.json()["data"]["matched"] == 2
    job_id = made.json()["data"]["id"]
    # Another merchant's endpoint is not found, and another's job (or environment's) neither.
    foreign = await client.post(
        "/webhooks/replays", json={**_window(), "endpoint_id": theirs}, headers=staging.headers
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == 5001
    for key in (live, other):
        seen = await client.get(f"/webhooks/replays/{job_id}", headers=key.headers)
        assert seen.status_code == 404 and seen.json()["code"] == 5324

    # The batch itself, run as the worker runs it, touches the two of staging and no more.
    async with db.read() as conn:
        row = (await conn.execute(select(_J).where(_J.c.id == job_id))).one()
    batch = await replays.run_batch(db, row, utcnow())
    assert batch is not None and batch.finished and len(batch.replayed) == 2
    async with db.read() as conn:
        pending = (
            await conn.execute(select(_D.c.endpoint_id).where(_D.c.status == "pending"))
        ).all()
    assert {r.endpoint_id for r in pending} == {mine}


async def test_bad_replay_jobs_get_the_envelope_and_change_nothing(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merchant = await make_merchant()
    endpoint_id = await _endpoint(client, merchant)
    await _failed(db, merchant, 3)
    now = utcnow()
    cases: list[tuple[dict[str, Any], int, int]] = [
        ({"until": rfc3339(now)}, 422, 3001),  # since is required
        ({**_window(), "status": "pending"}, 422, 3001),
        ({**_window(), "event_types": ["no.such"]}, 422, 3001),
        ({**_window(), "surprise": 1}, 422, 3001),
        ({"since": rfc3339(now), "until": rfc3339(now - timedelta(seconds=1))}, 422, 5321),
        ({"since": rfc3339(now - timedelta(days=32)), "until": rfc3339(now)}, 422, 5322),
        ({**_window(), "endpoint_id": "we_" + "1" * 24}, 404, 5001),
    ]
    before, jobs = await _states(db), await _jobs(db)
    for n, (body, status, code) in enumerate(cases):
        key = merchant if n < 4 else await make_merchant()  # each its own budget of recoveries
        reply = await client.post("/webhooks/replays", json=body, headers=key.headers)
        assert (reply.status_code, reply.json()["code"]) == (status, code), (body, reply.text)
        assert reply.json()["success"] is False
    assert await _states(db) == before and await _jobs(db) == jobs

    monkeypatch.setattr(replays, "MAX_MATCHED", 2)
    many = await client.post("/webhooks/replays", json=_window(), headers=merchant.headers)
    assert (many.status_code, many.json()["code"]) == (422, 5323)
    assert many.json()["data"] == {"limit": 2}
    monkeypatch.undo()

    disabled = await client.patch(
        f"/webhooks/endpoints/{endpoint_id}", json={"enabled": False}, headers=merchant.headers
    )
    assert disabled.status_code == 200
    off = await client.post(
        "/webhooks/replays", json={**_window(), "endpoint_id": endpoint_id},
        headers=merchant.headers,
    )  # fmt: skip
    assert (off.status_code, off.json()["code"]) == (409, 5004)
    assert await _states(db) == before and await _jobs(db) == jobs


async def test_a_merchant_runs_a_few_jobs_at_once(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    await _endpoint(client, merchant)
    await _failed(db, merchant, 1)
    for _ in range(replays.MAX_RUNNING):
        made = await client.post("/webhooks/replays", json=_window(), headers=merchant.headers)
        assert made.status_code == 201, made.text
    busy = await client.post("/webhooks/replays", json=_window(), headers=merchant.headers)
    assert (busy.status_code, busy.json()["code"]) == (409, 5325)
    assert busy.json()["data"] == {"limit": replays.MAX_RUNNING}


async def test_a_malformed_job_id_is_not_found(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    for job_id in ("wrj_short", "x" * 300, "wrj_" + "0" * 24):
        reply = await client.get(f"/webhooks/replays/{job_id}", headers=merchant.headers)
        assert (reply.status_code, reply.json()["code"]) == (404, 5324)


def _codes(spec: dict[str, Any], operation: dict[str, Any], status: str) -> set[int]:
    reply = reply_of(spec, operation, status)
    code = reply["content"]["application/json"]["schema"]["properties"]["code"]
    return set(code.get("enum", [code.get("const")]))


def test_the_spec_describes_the_jobs_the_range_and_the_throttle(settings: Settings) -> None:
    spec = openapi.build(create_app(settings).routes)
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    create = paths["/api/public/v1/webhooks/replays"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReplayJobCreate"
    }
    made = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert made["properties"]["data"] == {"$ref": "#/components/schemas/ReplayJobData"}
    assert {5321, 5322, 5323} <= _codes(spec, create, "422")
    assert {5004, 5325} <= _codes(spec, create, "409")
    read = paths["/api/public/v1/webhooks/replays/{job_id}"]["get"]
    assert 5324 in _codes(spec, read, "404")
    assert {"until", "since"} <= set(schemas["ReplayFailedRequest"]["properties"])
    recover = paths["/api/public/v1/webhooks/endpoints/{endpoint_id}/replay-failed"]["post"]
    assert 5321 in _codes(spec, recover, "422")
    for name in ("EndpointCreate", "EndpointUpdate", "EndpointData"):
        assert "throttle_per_second" in schemas[name]["properties"]
    update_ = paths["/api/public/v1/webhooks/endpoints/{endpoint_id}"]["patch"]
    assert 5320 in _codes(spec, update_, "422")


@pytest.mark.both_stores
async def test_concurrent_jobs_past_the_bound_are_refused_but_those_within_made(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """Five at once, three allowed: the merchant's row makes them take turns, so exactly three
    are made, whatever the store."""
    merchant = await make_merchant()
    await _endpoint(client, merchant)
    await _failed(db, merchant, 1)
    replies = await asyncio.gather(
        *(
            client.post("/webhooks/replays", json=_window(), headers=merchant.headers)
            for _ in range(5)
        )
    )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes == [1004] * replays.MAX_RUNNING + [5325] * (5 - replays.MAX_RUNNING)
    async with db.read() as conn:
        made = (
            await conn.execute(
                select(func.count()).select_from(_J).where(_J.c.merchant_id == merchant.merchant_id)
            )
        ).scalar_one()
    assert made == replays.MAX_RUNNING


async def test_finished_jobs_are_pruned_with_the_history_they_replayed(
    make_merchant: MakeMerchant, db: Database
) -> None:
    """A finished job older than its merchant's retention goes; a running one stays."""
    merchant = await make_merchant()
    now = utcnow()
    old = now - timedelta(days=100)
    finished, running = id_floor("wrj", old), id_floor("wrj", old + timedelta(seconds=1))
    row = {
        "env": "staging",
        "merchant_id": merchant.merchant_id,
        "filter": "{}",
        "matched": 0,
        "enqueued": 0,
        "attempts": 0,
        "generation": 0,
        "created_at": old,
        "updated_at": old,
    }
    async with db.transaction() as conn:
        await conn.execute(insert(_J).values(id=finished, status="done", **row))
        await conn.execute(insert(_J).values(id=running, status="pending", **row))
    pruned = await prune_batch(db, now=now, default_days=90, batch=100)
    assert pruned.replay_job_rows == 1
    async with db.transaction() as conn:
        left = await conn.execute(select(_J.c.id).where(_J.c.id.in_([finished, running])))
        assert left.scalars().all() == [running]
        await conn.execute(delete(_J).where(_J.c.id == running))


@pytest.mark.both_stores
async def test_a_recovery_is_a_replay_job_under_its_bounds(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An endpoint's recovery counts its deliveries as a job does: past the job's bound it is
    refused and makes nothing due; within it, it is a job whose first batch runs at once (every
    delivery listed when they fit one), the rest left to the worker; and it takes a place among
    the merchant's running jobs."""
    monkeypatch.setattr(replays, "MAX_MATCHED", 6)
    monkeypatch.setattr(replays, "BATCH", 2)
    merchant = await make_merchant()
    endpoint_id = await _endpoint(client, merchant)
    path = f"/webhooks/endpoints/{endpoint_id}/replay-failed"
    failed = await _failed(db, merchant, 7)
    before = await _states(db)

    refused = await client.post(path, json=_window(), headers=merchant.headers)
    assert (refused.status_code, refused.json()["code"]) == (422, 5323), refused.text
    assert refused.json()["data"] == {"limit": 6}
    assert await _states(db) == before
    assert await _jobs_of(db, merchant) == []

    async with db.transaction() as conn:  # one left: within the bound
        await conn.execute(update(_D).where(_D.c.id == min(failed)).values(status="succeeded"))
    made = await client.post(path, json=_window(), headers=merchant.headers)
    assert made.status_code == 200, made.text
    data = made.json()["data"]
    assert data["replayed"] == 2 and data["delivery_ids"] == sorted(failed)[1:3]
    assert data["job_id"].startswith("wrj_")
    job = await client.get(f"/webhooks/replays/{data['job_id']}", headers=merchant.headers)
    assert job.json()["data"]["matched"] == 6 and job.json()["data"]["enqueued"] == 2
    assert job.json()["data"]["status"] == "running"
    states = {d: s for d, s, _ in await _states(db)}
    assert sorted(d for d, s in states.items() if s == "pending") == sorted(failed)[1:3]

    # Its job counts among the merchant's running ones.
    for _ in range(replays.MAX_RUNNING - 1):
        more = await client.post(
            "/webhooks/replays", json={**_window(), "status": "failed"}, headers=merchant.headers
        )
        assert more.status_code == 201, more.text
    busy = await client.post(path, json=_window(), headers=merchant.headers)
    assert (busy.status_code, busy.json()["code"]) == (409, 5325), busy.text


@pytest.mark.both_stores
async def test_a_small_recovery_is_done_at_once(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    endpoint_id = await _endpoint(client, merchant)
    failed = await _failed(db, merchant, 3)
    path = f"/webhooks/endpoints/{endpoint_id}/replay-failed"
    made = await client.post(path, json=_window(), headers=merchant.headers)
    data = made.json()["data"]
    assert data == {
        "replayed": 3,
        "delivery_ids": sorted(failed),
        "kept_since": None,
        "job_id": None,
    }
    assert await _jobs_of(db, merchant) == ["done"]


async def _jobs_of(db: Database, merchant: MerchantKey) -> list[str]:
    async with db.read() as conn:
        found = select(_J.c.status).where(_J.c.merchant_id == merchant.merchant_id)
        return list((await conn.execute(found)).scalars())
