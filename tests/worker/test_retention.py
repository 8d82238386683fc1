"""Retention of webhook history: old events, deliveries and attempts go, in bounded batches; a
delivery still due, its event, and every row of money stay. Time is the pruning's ``now``."""

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, insert, select, update

from gateway.store.engine import Database
from gateway.store.models import (
    DeliveryAttempt,
    Event,
    LedgerEntry,
    Topup,
    WebhookDelivery,
    table_of,
)
from gateway.values.clock import id_floor, utcnow
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.webhooks import emit_test_events, make_endpoint
from worker.retention import prune_history

_D, _A, _E = table_of(WebhookDelivery), table_of(DeliveryAttempt), table_of(Event)
_L, _T = table_of(LedgerEntry), table_of(Topup)
SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "kept@example.com"}
# Other tests' rows share this database: under a default this long they are never old here.
LONG = 3650


async def _history(db: Database, client: httpx.AsyncClient, merchant: MerchantKey) -> str:
    """A send and five test events to one endpoint; every delivery finished with an attempt
    logged, except one left due. The due delivery's id."""
    await make_endpoint(client, merchant, "http://127.0.0.1:9/hook")
    sent = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.json()["code"] == 1001, sent.text
    ids = await emit_test_events(db, merchant.merchant_id, 5)
    now = utcnow()
    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                select(_D.c.id, _D.c.event_id).where(_D.c.merchant_id == merchant.merchant_id)
            )
        ).all()
        assert len(rows) == 6
        due = ids[0]
        for row in rows:
            if row.id == due:
                continue
            await conn.execute(update(_D).where(_D.c.id == row.id).values(status="succeeded"))
            await conn.execute(
                insert(_A).values(
                    delivery_id=row.id,
                    attempt=1,
                    trigger="auto",
                    started_at=now,
                    duration_ms=3,
                    url="http://127.0.0.1:9/hook",
                    request_headers={},
                    request_body="{}",
                    response_status=200,
                )
            )
    return due


async def _counts(db: Database, merchant_id: str) -> dict[str, int]:
    async def count(stmt: Any) -> int:
        return int((await conn.execute(stmt)).scalar_one())

    async with db.read() as conn:
        mine = select(_D.c.id).where(_D.c.merchant_id == merchant_id).scalar_subquery()
        return {
            "events": await count(
                select(func.count()).select_from(_E).where(_E.c.merchant_id == merchant_id)
            ),
            "deliveries": await count(
                select(func.count()).select_from(_D).where(_D.c.merchant_id == merchant_id)
            ),
            "attempts": await count(
                select(func.count()).select_from(_A).where(_A.c.delivery_id.in_(mine))
            ),
            "topups": await count(
                select(func.count()).select_from(_T).where(_T.c.merchant_id == merchant_id)
            ),
            "ledger": await count(select(func.count()).select_from(_L)),
        }


async def test_old_history_goes_in_batches_and_what_is_due_or_money_stays(
    hook_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    short, long_ = await make_merchant(), await make_merchant()
    for merchant, days in ((short, 90), (long_, 365)):
        reply = await admin_client.put(
            f"/merchants/{merchant.merchant_id}/retention", json={"retention_days": days}
        )
        assert reply.json()["data"]["retention_days"] == days, reply.text
    due = {m.merchant_id: await _history(db, hook_client, m) for m in (short, long_)}
    before = {m.merchant_id: await _counts(db, m.merchant_id) for m in (short, long_)}
    assert before[short.merchant_id] == {
        "events": 6,
        "deliveries": 6,
        "attempts": 5,
        "topups": 1,
        "ledger": before[short.merchant_id]["ledger"],
    }
    start = utcnow()

    # Not yet old: nothing goes.
    pruned = await prune_history(db, now=start + timedelta(days=89), default_days=LONG, batch=2)
    assert pruned.rows == 0
    assert await _counts(db, short.merchant_id) == before[short.merchant_id]

    # Past the short merchant's 90 days, in batches of two: its finished history goes; the due
    # delivery and its event stay, and so do the long merchant's rows, top-ups and the ledger.
    pruned = await prune_history(db, now=start + timedelta(days=91), default_days=LONG, batch=2)
    assert (pruned.delivery_rows, pruned.attempt_rows, pruned.event_rows) == (5, 5, 5)
    after = await _counts(db, short.merchant_id)
    assert after == {**before[short.merchant_id], "events": 1, "deliveries": 1, "attempts": 0}
    async with db.read() as conn:
        kept = (
            await conn.execute(
                select(_D.c.id, _D.c.status).where(_D.c.merchant_id == short.merchant_id)
            )
        ).all()
    assert [(r.id, r.status) for r in kept] == [(due[short.merchant_id], "pending")]
    assert await _counts(db, long_.merchant_id) == before[long_.merchant_id]

    # Past a year the long merchant's finished history goes too; money is still all there.
    await prune_history(db, now=start + timedelta(days=366), default_days=LONG, batch=1000)
    assert await _counts(db, long_.merchant_id) == {
        **before[long_.merchant_id],
        "events": 1,
        "deliveries": 1,
        "attempts": 0,
    }
    assert (await _counts(db, short.merchant_id))["ledger"] == before[short.merchant_id]["ledger"]
    await assert_ledger_balanced(db)


async def test_replay_and_recover_say_what_is_past_retention(
    hook_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, "http://127.0.0.1:9/hook")
    now = utcnow()
    old = id_floor("dlv", now - timedelta(days=91)) + "0" * 15 + "we_" + "0" * 24
    replay = await hook_client.post(f"/webhooks/deliveries/{old}/replay", headers=merchant.headers)
    assert (replay.status_code, replay.json()["code"]) == (410, 5201), replay.text
    assert replay.json()["data"]["retention_days"] == 90

    recover = f"/webhooks/endpoints/{endpoint['id']}/replay-failed"
    reached = await hook_client.post(
        recover, json={"since": "2000-01-01T00:00:00Z"}, headers=merchant.headers
    )
    assert reached.status_code == 200, reached.text
    kept_since = reached.json()["data"]["kept_since"]
    assert kept_since is not None and kept_since.startswith(
        (now - timedelta(days=90)).strftime("%Y-%m-%d")
    )
    recent = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    inside = await hook_client.post(recover, json={"since": recent}, headers=merchant.headers)
    assert inside.json()["data"]["kept_since"] is None

    # An operator keeps this merchant's history a year: the same id is merely not found.
    await admin_client.put(
        f"/merchants/{merchant.merchant_id}/retention", json={"retention_days": 365}
    )
    replay = await hook_client.post(f"/webhooks/deliveries/{old}/replay", headers=merchant.headers)
    assert (replay.status_code, replay.json()["code"]) == (404, 5003), replay.text
    # Back to the default with null; out-of-range values change nothing.
    for bad in ({"retention_days": 0}, {"retention_days": 4000}, {"retention_days": "90"}, {}):
        refused = await admin_client.put(f"/merchants/{merchant.merchant_id}/retention", json=bad)
        assert (refused.status_code, refused.json()["code"]) == (422, 3001), bad
    reset = await admin_client.put(
        f"/merchants/{merchant.merchant_id}/retention", json={"retention_days": None}
    )
    assert reset.json()["data"]["retention_days"] is None
    missing = await admin_client.put("/merchants/mer_nope/retention", json={"retention_days": 9})
    assert (missing.status_code, missing.json()["code"]) == (404, 4140)
