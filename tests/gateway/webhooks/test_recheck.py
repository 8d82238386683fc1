"""A test event and a replay check the endpoint's URL again before making work: a name that
turned private since the endpoint was saved is refused there, as it is at connect time."""

from datetime import UTC, datetime

import httpx
from sqlalchemy import select, update

from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, WebhookEndpoint, table_of
from tests.fixtures.merchants import MakeMerchant

_EP, _D = table_of(WebhookEndpoint), table_of(WebhookDelivery)
SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "recheck@example.com"}


async def test_test_and_replays_refuse_a_url_that_turned_private(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    live = await make_merchant("live", balance_cents=10_000)
    created = await hook_client.post(
        "/webhooks/endpoints", json={"url": "http://93.184.215.14/hook"}, headers=live.headers
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["data"]["id"]
    sent = await hook_client.post("/topup/send", json=SEND, headers=live.headers)
    assert sent.json()["code"] == 1001
    async with db.transaction() as conn:
        # The delivery ran its course; the endpoint's name now points at this machine.
        await conn.execute(
            update(_D).where(_D.c.endpoint_id == endpoint_id).values(status="failed")
        )
        await conn.execute(
            update(_EP).where(_EP.c.id == endpoint_id).values(url="http://localhost:9/hook")
        )
    async with db.read() as conn:
        [delivery_id] = (
            await conn.execute(select(_D.c.id).where(_D.c.endpoint_id == endpoint_id))
        ).scalars()

    since = datetime(2020, 1, 1, tzinfo=UTC).isoformat()
    refused = [
        await hook_client.post(f"/webhooks/endpoints/{endpoint_id}/test", headers=live.headers),
        await hook_client.post(f"/webhooks/deliveries/{delivery_id}/replay", headers=live.headers),
        await hook_client.post(
            f"/webhooks/endpoints/{endpoint_id}/replay-failed",
            json={"since": since},
            headers=live.headers,
        ),
    ]
    assert [r.json()["code"] for r in refused] == [5002, 5002, 5002], [r.text for r in refused]
    async with db.read() as conn:
        rows = (
            await conn.execute(select(_D.c.status).where(_D.c.endpoint_id == endpoint_id))
        ).all()
    assert [r.status for r in rows] == ["failed"]  # no test delivery, nothing replayed
