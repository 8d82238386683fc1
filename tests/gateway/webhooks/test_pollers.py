"""Polling endpoints: a poller reads its merchant's events in order, across restarts and seeks,
each signed as an endpoint's would be; its key reads that poller and nothing else."""

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert
from standardwebhooks.webhooks import Webhook

from gateway.store.engine import Database
from gateway.store.models import Event, table_of
from gateway.values.clock import new_id, rfc3339, utcnow
from gateway.values.code_names import Code
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.merchants import MakeMerchant, MerchantKey

_E = table_of(Event)
EVENTS = 10_000
PAGE = 250


async def _events(db: Database, merchant: MerchantKey, count: int, **fields: Any) -> list[str]:
    """``count`` events of the merchant a second apart, the last an hour old, in one insert;
    their ids in order."""
    start = utcnow() - timedelta(hours=1, seconds=count)
    rows = [
        {
            "id": new_id("evt"),
            "env": "staging",
            "merchant_id": merchant.merchant_id,
            "type": "topup.delivered" if i % 3 else "balance.low",
            "payload": f'{{"n": {i}}}',
            "created_at": start + timedelta(seconds=i),
            **fields,
        }
        for i in range(count)
    ]
    async with db.transaction() as conn:
        await conn.execute(insert(_E), rows)
    return [r["id"] for r in rows]


async def _poller(client: httpx.AsyncClient, merchant: MerchantKey, **body: Any) -> dict[str, Any]:
    made = await client.post("/webhooks/pollers", json=body, headers=merchant.headers)
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"  # its key and secret, shown once
    data: dict[str, Any] = made.json()["data"]
    assert data["key"].startswith("wpk_staging_") and data["secret"].startswith("whsec_")
    return data


def _by(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_poller_reads_ten_thousand_events_in_order_across_a_restart_and_a_seek(
    settings: Settings, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    ids = await _events(db, merchant, EVENTS)
    read: list[dict[str, Any]] = []
    iterator: str | None = None
    async with running_app(settings) as app, asgi_client(app) as client:
        poller = await _poller(client, merchant)
        path = f"/webhooks/pollers/{poller['id']}"
        for _ in range(EVENTS // PAGE // 2):
            params: dict[str, str | int] = {"limit": PAGE}
            if iterator:
                params["iterator"] = iterator
            reply = await client.get(path, params=params, headers=_by(poller["key"]))
            assert reply.status_code == 200, reply.text
            read += reply.json()["data"]
            iterator = reply.json()["meta"]["iterator"]
            assert reply.json()["meta"]["done"] is False
    # A new process: the iterator is all the state a poller needs.
    async with running_app(settings) as app, asgi_client(app) as client:
        done = False
        while not done:
            reply = await client.get(
                path, params={"limit": PAGE, "iterator": iterator}, headers=_by(poller["key"])
            )
            assert reply.status_code == 200, reply.text
            read += reply.json()["data"]
            iterator, done = reply.json()["meta"]["iterator"], reply.json()["meta"]["done"]
        assert [e["id"] for e in read] == ids
        # Each event as an endpoint would have had it: its exact body, signed with the secret.
        verifier = Webhook(poller["secret"])
        for event in (read[0], read[4_999], read[-1]):
            assert verifier.verify(event["payload"], event["headers"]) == {
                "n": ids.index(event["id"])
            }
            assert event["headers"]["webhook-id"] == event["id"]
        # Seek: from the 7,000th event's time on.
        since = read[7_000]["created_at"]
        sought = await client.get(
            path, params={"since": since, "limit": 3}, headers=_by(poller["key"])
        )
        assert [e["id"] for e in sought.json()["data"]] == ids[7_000:7_003]
        # Read to the end again: nothing more, and the iterator stays where it was.
        last = await client.get(path, params={"iterator": iterator}, headers=_by(poller["key"]))
        assert last.json()["data"] == []
        assert last.json()["meta"] == {"iterator": iterator, "done": True, "limit": 50}


async def test_a_poller_key_reads_its_poller_and_nothing_else(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant, stranger = await make_merchant(), await make_merchant()
    await _events(db, merchant, 3)
    mine = await _poller(hook_client, merchant, event_types=["balance.low"])
    other = await _poller(hook_client, merchant)
    theirs = await _poller(hook_client, stranger)
    read = await hook_client.get(f"/webhooks/pollers/{mine['id']}", headers=_by(mine["key"]))
    assert [e["type"] for e in read.json()["data"]] == ["balance.low"]
    # The merchant's own API key reads it too.
    by_key = await hook_client.get(f"/webhooks/pollers/{mine['id']}", headers=merchant.headers)
    assert [e["id"] for e in by_key.json()["data"]] == [e["id"] for e in read.json()["data"]]

    for path in (
        f"/webhooks/pollers/{other['id']}",
        f"/webhooks/pollers/{theirs['id']}",
        "/webhooks/pollers/wpl_000000000000000000000000",
    ):
        refused = await hook_client.get(path, headers=_by(mine["key"]))
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == Code.WEBHOOK_POLLER_KEY_INVALID
    for method, path in (
        ("GET", "/balance"),
        ("GET", "/webhooks/pollers"),
        ("GET", "/webhooks/endpoints"),
        ("DELETE", f"/webhooks/pollers/{mine['id']}"),
    ):
        refused = await hook_client.request(method, path, headers=_by(mine["key"]))
        assert refused.status_code == 401, (path, refused.text)
    # Another merchant's key does not find it.
    hidden = await hook_client.get(f"/webhooks/pollers/{mine['id']}", headers=stranger.headers)
    assert hidden.json()["code"] == Code.WEBHOOK_POLLER_NOT_FOUND

    deleted = await hook_client.delete(f"/webhooks/pollers/{mine['id']}", headers=merchant.headers)
    assert deleted.status_code == 200
    gone = await hook_client.get(f"/webhooks/pollers/{mine['id']}", headers=_by(mine["key"]))
    assert gone.json()["code"] == Code.WEBHOOK_POLLER_KEY_INVALID
    listed = await hook_client.get("/webhooks/pollers", headers=merchant.headers)
    assert [p["id"] for p in listed.json()["data"]] == [other["id"]]
    assert "key" not in listed.json()["data"][0]


async def test_a_poller_refuses_a_bad_read_and_waits_for_events_to_settle(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    poller = await _poller(hook_client, merchant)
    path = f"/webhooks/pollers/{poller['id']}"
    now = rfc3339(utcnow())
    for params, code in (
        ({"iterator": "evt_short"}, Code.WEBHOOK_POLLER_ITERATOR_INVALID),
        ({"iterator": new_id("evt"), "since": now}, Code.WEBHOOK_POLLER_ITERATOR_INVALID),
        ({"limit": "0"}, Code.INVALID_QUERY),
        ({"since": "soon"}, Code.INVALID_QUERY),
    ):
        refused = await hook_client.get(path, params=params, headers=_by(poller["key"]))
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == code
    # An event just written waits out the settle time (5 s), so none commits behind an iterator.
    await _events(db, merchant, 1, created_at=utcnow())
    fresh = await hook_client.get(path, headers=_by(poller["key"]))
    assert fresh.json()["data"] == []
    bad = await hook_client.post(
        "/webhooks/pollers", json={"event_types": ["nope"]}, headers=merchant.headers
    )
    assert bad.status_code == 422


async def test_pollers_stop_at_the_cap(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, settings: Settings
) -> None:
    merchant = await make_merchant()
    for _ in range(settings.max_pollers_per_merchant_env):
        await _poller(hook_client, merchant)
    over = await hook_client.post("/webhooks/pollers", json={}, headers=merchant.headers)
    assert over.status_code == 409
    assert over.json()["code"] == Code.WEBHOOK_POLLER_LIMIT_REACHED
