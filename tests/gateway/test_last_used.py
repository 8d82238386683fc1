"""A key's "last used" is written when a door admits it, at most once a minute per process, and
only ever moves forward; on both stores."""

from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from gateway.last_used import LastUsed
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from gateway.values.clock import utcnow
from tests.fixtures.merchants import MakeMerchant

_K = table_of(ApiKeyRow)


async def _last_used(db: Database, key_id: str) -> datetime | None:
    async with db.read() as conn:
        found = await conn.execute(select(_K.c.last_used_at).where(_K.c.id == key_id))
    used: datetime | None = found.scalar_one()
    return used


async def test_a_request_marks_its_key_used_and_the_list_shows_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await make_merchant()
    made = await client.post("/keys", json={"name": "agent"}, headers=owner.headers)
    agent = made.json()["data"]
    assert agent["last_used_at"] is None

    before = utcnow()
    balance = await client.get("/balance", headers={"Authorization": f"Bearer {agent['key']}"})
    assert balance.status_code == 200, balance.text

    listed = await client.get("/keys?limit=100", headers=owner.headers)
    shown = {k["id"]: k["last_used_at"] for k in listed.json()["data"]}
    assert shown[agent["id"]] is not None
    stored = await _last_used(db, agent["id"])
    assert stored is not None and stored >= before - timedelta(seconds=1)


async def test_a_refused_key_is_not_marked_used(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await make_merchant()
    revoked = (await client.post("/keys", json={}, headers=owner.headers)).json()["data"]
    gone = await client.delete(f"/keys/{revoked['id']}", headers=owner.headers)
    assert gone.status_code == 200, gone.text
    refused = await client.get("/balance", headers={"Authorization": f"Bearer {revoked['key']}"})
    assert refused.status_code == 401
    assert await _last_used(db, revoked["id"]) is None


async def test_written_once_a_resolution_and_never_backwards(
    db: Database, make_merchant: MakeMerchant
) -> None:
    key = await make_merchant()
    used = LastUsed(resolution_seconds=3600)
    first = utcnow()
    await used.touch(db, key.key_id, first)
    await used.touch(db, key.key_id, first + timedelta(minutes=5))  # within the resolution
    assert await _last_used(db, key.key_id) == first

    # Another process wrote a later time: an earlier one written here does not undo it.
    later = first + timedelta(hours=2)
    async with db.transaction() as conn:
        await conn.execute(update(_K).where(_K.c.id == key.key_id).values(last_used_at=later))
    await LastUsed().touch(db, key.key_id, first + timedelta(hours=1))
    assert await _last_used(db, key.key_id) == later


def test_the_memory_stays_bounded() -> None:
    used = LastUsed(resolution_seconds=3600)
    assert all(used.due(f"key_{n}") for n in range(25_000))
    assert len(used._written) <= 10_000
    assert not used.due("key_24999")  # still remembered after starting afresh
