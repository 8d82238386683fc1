"""Payload filters on endpoints: an event a filter drops gets no delivery and counts as filtered
in the endpoint's stats, every other event is delivered as before, on both stores; a filter
is judged when saved, and a refused one changes nothing."""

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, WebhookFiltered, table_of
from gateway.values.clock import utcnow
from gateway.values.code_names import Code
from gateway.values.payload_filters import MAX_BYTES, MAX_DEPTH
from gateway.webhooks.retention import prune_batch
from tests.fixtures.mcp import SEND
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.webhooks import Receiver, make_endpoint

_D = table_of(WebhookDelivery)
_F = table_of(WebhookFiltered)
DELIVERED = ["topup.delivered"]


async def _delivered(db: Database, endpoint_id: str) -> list[str]:
    """The events the endpoint has a delivery of, in order."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(_D.c.event_id).where(_D.c.endpoint_id == endpoint_id).order_by(_D.c.id)
        )
        return [r.event_id for r in rows]


async def _send(client: httpx.AsyncClient, merchant: MerchantKey, **extra: Any) -> str:
    reply = await client.post("/topup/send", json={**SEND, **extra}, headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["transaction_id"])


async def _stats(client: httpx.AsyncClient, merchant: MerchantKey, endpoint_id: str) -> Any:
    reply = await client.get(f"/webhooks/endpoints/{endpoint_id}/stats", headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


async def test_a_filter_drops_what_it_should_and_nothing_else(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver, db: Database
) -> None:
    merchant = await make_merchant()

    async def endpoint(filter_: Any) -> str:
        made = await make_endpoint(
            hook_client, merchant, receiver.url, event_types=DELIVERED, filter=filter_
        )
        assert made["filter"] == filter_
        return str(made["id"])

    large = await endpoint({"data": {"amount_cents": {"$gte": 1500}}})
    ops = await endpoint({"data": {"metadata": {"team": "ops"}}})
    either = await endpoint(
        {"$or": [{"data": {"platform": {"$in": ["gemini"]}}}, {"data": {"amount_cents": 1000}}]}
    )
    none_ = await endpoint(None)
    await _send(hook_client, merchant, amount_cents=1000, metadata={"team": "ops"})
    await _send(hook_client, merchant, amount_cents=2000, metadata={"team": "web"})
    await _send(hook_client, merchant, amount_cents=3000)
    everything = await _delivered(db, none_)
    assert len(everything) == 3  # the endpoint without a filter: every event, as before
    first, second, third = everything
    assert await _delivered(db, large) == [second, third]
    assert await _delivered(db, ops) == [first]  # a nested field; an absent one fails
    assert await _delivered(db, either) == [first]
    for endpoint_id, filtered in ((large, 1), (ops, 2), (either, 2), (none_, 0)):
        stats = await _stats(hook_client, merchant, endpoint_id)
        assert stats["filtered"] == filtered, endpoint_id
        assert stats["pending"] + stats["sending"] + stats["succeeded"] == 3 - filtered


async def test_null_lifts_a_filter_and_a_test_event_passes_any(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver, db: Database
) -> None:
    merchant = await make_merchant()
    made = await make_endpoint(
        hook_client, merchant, receiver.url, event_types=DELIVERED, filter={"type": "nothing"}
    )
    await _send(hook_client, merchant)
    assert await _delivered(db, made["id"]) == []
    tested = await hook_client.post(
        f"/webhooks/endpoints/{made['id']}/test", headers=merchant.headers
    )
    assert tested.status_code == 200, tested.text  # the endpoint's test, whatever its filter
    assert len(await _delivered(db, made["id"])) == 1
    lifted = await hook_client.patch(
        f"/webhooks/endpoints/{made['id']}", json={"filter": None}, headers=merchant.headers
    )
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["data"]["filter"] is None
    await _send(hook_client, merchant)
    assert len(await _delivered(db, made["id"])) == 2


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"x": 1}
    for _ in range(levels - 1):
        node = {"data": node}
    return node


BAD: list[tuple[Any, int]] = [
    ({"data": {"amount_cents": {"$regex": "^1"}}}, Code.WEBHOOK_FILTER_OPERATOR_UNKNOWN),
    ({"$ref": "data.amount_cents"}, Code.WEBHOOK_FILTER_OPERATOR_UNKNOWN),
    ({"data": {"amount_cents": {"$gt": True}}}, Code.WEBHOOK_FILTER_INVALID),
    ({"data": {"platform": {"$in": []}}}, Code.WEBHOOK_FILTER_INVALID),
    ({"data": {"amount_cents": {"$gt": 1, "currency": "usd"}}}, Code.WEBHOOK_FILTER_INVALID),
    ({"$or": {"type": "topup.delivered"}}, Code.WEBHOOK_FILTER_INVALID),
    ({"type": "\ud800"}, Code.WEBHOOK_FILTER_INVALID),  # a lone surrogate
    ({"data": {}}, Code.WEBHOOK_FILTER_INVALID),
    (_deep(MAX_DEPTH + 1), Code.WEBHOOK_FILTER_TOO_DEEP),
    ({"type": "x" * MAX_BYTES}, Code.WEBHOOK_FILTER_TOO_LARGE),
    # JSON's escapes name a lone surrogate, which no UTF-8 text (nor either store) holds.
    ({"\udc00": 1}, Code.WEBHOOK_FILTER_INVALID),
    ({"data": {"platform": {"$in": ["gemini", "\ud83d"]}}}, Code.WEBHOOK_FILTER_INVALID),
]


async def test_bad_filters_are_refused_and_change_nothing(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver
) -> None:
    merchant = await make_merchant()
    kept = {"data": {"amount_cents": {"$lt": 500}}}
    made = await make_endpoint(hook_client, merchant, receiver.url, filter=kept)
    assert _deep(MAX_DEPTH)  # the deepest allowed is saved
    await make_endpoint(hook_client, merchant, receiver.url, filter=_deep(MAX_DEPTH))
    for bad, code in BAD:
        # As JSON text, escaped: a lone surrogate is sent as a client may send it.
        headers = {**merchant.headers, "Content-Type": "application/json"}
        created = await hook_client.post(
            "/webhooks/endpoints",
            content=json.dumps({"url": receiver.url, "filter": bad}),
            headers=headers,
        )
        assert created.status_code == 422, created.text
        assert created.json()["code"] == code, bad
        patched = await hook_client.patch(
            f"/webhooks/endpoints/{made['id']}",
            content=json.dumps({"filter": bad}),
            headers=headers,
        )
        assert patched.json()["code"] == code, bad
    listed = await hook_client.get("/webhooks/endpoints", headers=merchant.headers)
    assert len(listed.json()["data"]) == 2  # no refused create wrote an endpoint
    read = await hook_client.get(f"/webhooks/endpoints/{made['id']}", headers=merchant.headers)
    assert read.json()["data"]["filter"] == kept  # nor a refused update its filter


async def test_what_a_filter_dropped_is_kept_as_long_as_deliveries(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver, db: Database
) -> None:
    merchant = await make_merchant()
    made = await make_endpoint(
        hook_client, merchant, receiver.url, event_types=DELIVERED, filter={"type": "nothing"}
    )
    await _send(hook_client, merchant)
    assert (await _stats(hook_client, merchant, made["id"]))["filtered"] == 1
    kept = await prune_batch(db, now=utcnow(), default_days=90, batch=100)
    assert kept.filtered_rows == 0  # within the horizon: kept
    later = utcnow() + timedelta(days=91)
    pruned = await prune_batch(db, now=later, default_days=90, batch=100)
    assert pruned.filtered_rows >= 1
    async with db.read() as conn:
        left = await conn.execute(select(_F).where(_F.c.endpoint_id == made["id"]))
        assert left.all() == []
