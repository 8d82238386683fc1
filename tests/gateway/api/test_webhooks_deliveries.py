import httpx
import pytest
from sqlalchemy import func, select, update

from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.clock import id_floor, utcnow
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.webhooks import fail_leftovers

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "user@example.com"}
PUBLIC_URL = "http://93.184.215.14/hook"
_D = table_of(WebhookDelivery)


async def endpoint(client: httpx.AsyncClient, merchant: MerchantKey, **extra: object) -> str:
    reply = await client.post(
        "/webhooks/endpoints", json={"url": PUBLIC_URL, **extra}, headers=merchant.headers
    )
    endpoint_id: str = reply.json()["data"]["id"]
    return endpoint_id


@pytest.fixture(autouse=True)
async def _no_leftovers(db: Database) -> object:
    yield None
    await fail_leftovers(db)  # no worker runs here; keep later workers from sending these


async def test_list_filter_page_and_detail(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    all_events = await endpoint(client, merchant)
    only_failed = await endpoint(client, merchant, event_types=["topup.failed"])
    for _ in range(3):
        await client.post("/topup/send", json=SEND, headers=merchant.headers)
    fail = {**SEND, "recipient_email": "user+fail@example.com"}
    await client.post("/topup/send", json=fail, headers=merchant.headers)

    everything = (await client.get("/webhooks/deliveries", headers=merchant.headers)).json()
    assert len(everything["data"]) == 5
    assert everything["meta"]["has_more"] is False
    by_endpoint = await client.get(
        f"/webhooks/deliveries?endpoint_id={only_failed}", headers=merchant.headers
    )
    assert [d["event_type"] for d in by_endpoint.json()["data"]] == ["topup.failed"]
    delivered = await client.get(
        "/webhooks/deliveries?event_type=topup.delivered&status=pending", headers=merchant.headers
    )
    assert len(delivered.json()["data"]) == 3
    assert {d["endpoint_id"] for d in delivered.json()["data"]} == {all_events}
    none_yet = await client.get("/webhooks/deliveries?status=succeeded", headers=merchant.headers)
    assert none_yet.json()["data"] == []
    later = await client.get(
        "/webhooks/deliveries?created_after=2999-01-01T00:00:00Z", headers=merchant.headers
    )
    assert later.json()["data"] == []
    earlier = await client.get(
        "/webhooks/deliveries?created_before=2999-01-01T00:00:00Z", headers=merchant.headers
    )
    assert len(earlier.json()["data"]) == 5

    first = (await client.get("/webhooks/deliveries?limit=2", headers=merchant.headers)).json()
    seen = [d["id"] for d in first["data"]]
    cursor = first["meta"]["next_cursor"]
    while cursor:
        page = (
            await client.get(
                f"/webhooks/deliveries?limit=2&cursor={cursor}", headers=merchant.headers
            )
        ).json()
        seen += [d["id"] for d in page["data"]]
        cursor = page["meta"]["next_cursor"]
    assert sorted(seen, reverse=True) == seen and len(set(seen)) == 5

    detail = (await client.get(f"/webhooks/deliveries/{seen[0]}", headers=merchant.headers)).json()[
        "data"
    ]
    assert detail["status"] == "pending" and detail["attempt_log"] == []
    assert detail["payload"].startswith('{"id":"evt_')

    pending = await client.post(f"/webhooks/deliveries/{seen[0]}/replay", headers=merchant.headers)
    assert pending.status_code == 409 and pending.json()["code"] == 5005


async def test_replay_failed_since_a_time(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    endpoint_id = await endpoint(client, merchant)
    for _ in range(3):
        await client.post("/topup/send", json=SEND, headers=merchant.headers)
    async with db.transaction() as conn:
        await conn.execute(
            update(_D).where(_D.c.endpoint_id == endpoint_id).values(status="failed", attempts=3)
        )
    none = await client.post(
        f"/webhooks/endpoints/{endpoint_id}/replay-failed",
        json={"since": "2999-01-01T00:00:00Z"},
        headers=merchant.headers,
    )
    assert none.json()["data"] == {
        "replayed": 0,
        "delivery_ids": [],
        "kept_since": None,
        "job_id": None,
    }
    replayed = await client.post(
        f"/webhooks/endpoints/{endpoint_id}/replay-failed",
        json={"since": "2000-01-01T00:00:00+00:00"},
        headers=merchant.headers,
    )
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["data"]["replayed"] == 3
    async with db.read() as conn:
        rows = (await conn.execute(select(_D).where(_D.c.endpoint_id == endpoint_id))).all()
    assert {(r.status, r.trigger, r.run_start) for r in rows} == {("pending", "replay", 3)}


async def test_test_event_goes_to_that_endpoint_whatever_its_filter(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    target = await endpoint(client, merchant, event_types=["balance.low"])
    await endpoint(client, merchant)
    reply = await client.post(f"/webhooks/endpoints/{target}/test", headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    delivery_id = reply.json()["data"]["delivery_id"]
    detail = (
        await client.get(f"/webhooks/deliveries/{delivery_id}", headers=merchant.headers)
    ).json()["data"]
    assert detail["endpoint_id"] == target
    assert detail["event_type"] == "webhook.test"
    assert detail["trigger"] == "test"
    listed = (await client.get("/webhooks/deliveries", headers=merchant.headers)).json()["data"]
    assert [d["id"] for d in listed] == [delivery_id]


async def test_staging_and_live_events_never_cross(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live", merchant_id=staging.merchant_id, balance_cents=10_000)
    staging_endpoint = await endpoint(client, staging)
    live_endpoint = await endpoint(client, live)
    await client.post("/topup/send", json=SEND, headers=live.headers)
    await client.post("/topup/send", json=SEND, headers=staging.headers)
    for key, mine, other in [
        (staging, staging_endpoint, live_endpoint),
        (live, live_endpoint, staging_endpoint),
    ]:
        listed = (await client.get("/webhooks/deliveries", headers=key.headers)).json()["data"]
        assert [d["endpoint_id"] for d in listed] == [mine]
        foreign = await client.get(f"/webhooks/deliveries?endpoint_id={other}", headers=key.headers)
        assert foreign.json()["data"] == []
        other_id = listed[0]["id"]
        other_key = live if key is staging else staging
        hidden = await client.get(f"/webhooks/deliveries/{other_id}", headers=other_key.headers)
        assert hidden.status_code == 404 and hidden.json()["code"] == 5003
        replay = await client.post(
            f"/webhooks/deliveries/{other_id}/replay", headers=other_key.headers
        )
        assert replay.json()["code"] == 5003
    async with db.read() as conn:
        crossed = await conn.execute(
            select(func.count()).where(_D.c.env == "live", _D.c.endpoint_id == staging_endpoint)
        )
        assert crossed.scalar_one() == 0


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/webhooks/deliveries?status=done", 3006),
        ("/webhooks/deliveries?event_type=topup.nope", 3006),
        ("/webhooks/deliveries?created_after=yesterday", 3006),
        ("/webhooks/deliveries?created_after=2024-01-01T00:00:00", 3006),
        ("/webhooks/deliveries?limit=101", 3006),
        ("/webhooks/deliveries?cursor=dlv_x", 3005),
        ("/webhooks/deliveries?bogus=1", 3006),
        ("/webhooks/deliveries/dlv_x", 5003),
        ("/webhooks/deliveries/dlv_000000000000000000000000we_000000000000000000000000", 5003),
    ],
)
async def test_bad_delivery_queries_get_the_envelope(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, path: str, code: int
) -> None:
    merchant = await make_merchant()
    reply = await client.get(path, headers=merchant.headers)
    assert reply.json()["code"] == code
    assert reply.json()["success"] is False


async def test_replay_of_an_unknown_delivery(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    # An id of this moment: one older than the retention period is answered 410 (5201) instead.
    recent = id_floor("dlv", utcnow()) + "0" * 15 + "we_" + "0" * 24
    for path in ["dlv_x", recent]:
        reply = await client.post(f"/webhooks/deliveries/{path}/replay", headers=merchant.headers)
        assert reply.status_code == 404 and reply.json()["code"] == 5003
