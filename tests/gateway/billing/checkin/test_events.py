"""``checkin.credited``: written with the credit, delivered signed to the merchant's endpoints
that take it (an endpoint filtered to other events gets nothing), its balance the wallet's after
the credit. Both stores."""

import json

import httpx

from gateway.store.engine import Database
from gateway.webhooks.schemas import EVENT_TYPES
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import (
    Receiver,
    events_of,
    make_endpoint,
    only_delivery,
    verify_both_schemes,
)
from tests.fixtures.workers import StartWorker


async def test_checkin_credited_is_delivered_to_the_merchants_endpoints(
    hook_client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
) -> None:
    assert "checkin.credited" in EVENT_TYPES
    await start_worker()
    merchant = await make_merchant("staging")
    endpoint = await make_endpoint(hook_client, merchant, receiver.url)
    # Filtered to other events: nothing for it.
    other = Receiver()
    await other.start()
    try:
        await make_endpoint(hook_client, merchant, other.url, event_types=["topup.delivered"])
        reply = await hook_client.post("/checkin", headers=merchant.headers)
        assert reply.status_code == 200, reply.text
        data = reply.json()["data"]

        request = await only_delivery(receiver)
        payload = verify_both_schemes(request, endpoint["secret"])
        assert payload["type"] == "checkin.credited"
        assert payload["env"] == "staging"
        assert payload["data"] == {
            "id": reply.json()["transaction_id"],
            "amount_cents": data["amount_cents"],
            "balance_cents": data["balance_cents"],
            "currency": "USD",
            "checked_in_on": data["checked_in_on"],
        }
        assert request.headers["x-aitopup-event"] == "checkin.credited"
        [event] = await events_of(db, merchant.merchant_id, "checkin.credited")
        assert event["id"] == payload["id"]

        async def recorded() -> bool:
            listed = await hook_client.get("/webhooks/deliveries", headers=merchant.headers)
            return [d["status"] for d in listed.json()["data"]] == ["succeeded"]

        await wait_until(recorded)
        assert other.received == []
        # A refused second check-in writes no event.
        assert (await hook_client.post("/checkin", headers=merchant.headers)).status_code == 409
        assert len(await events_of(db, merchant.merchant_id, "checkin.credited")) == 1
        assert json.loads(request.body)["id"] == event["id"]
    finally:
        await other.stop()
