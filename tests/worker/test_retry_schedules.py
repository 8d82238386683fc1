"""An endpoint's retry schedule: the standard one by default, the long one when it asks, walked
on the worker's clock; a PATCH moves an endpoint between them and a bad name changes nothing."""

import httpx

from gateway.store.engine import Database
from tests.fixtures.clock import Stepped
from tests.fixtures.core import loop_lag, wait_until
from tests.fixtures.deliveries import SEND, step_through
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, Reply, make_endpoint
from tests.fixtures.workers import StartWorker


async def test_a_long_schedule_endpoint_is_tried_on_the_long_schedule_then_given_up(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
) -> None:
    clock = Stepped()
    running = await start_worker(seams={"clock": clock})
    receiver.clock = clock.monotonic
    receiver.respond = lambda _: Reply(status=500)
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url, retry_schedule="long")
    assert endpoint["retry_schedule"] == "long"
    delays = running.settings.long_retry_delays
    assert delays == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]

    async def given_up() -> bool:
        reply = await hook_client.get(
            "/webhooks/deliveries?status=failed", headers=merchant.headers
        )
        return len(reply.json()["data"]) == 1

    async with loop_lag() as lag:
        await hook_client.post("/topup/send", json=SEND, headers=merchant.headers)
        await step_through(clock, db, merchant.merchant_id, delays[1:])
        await wait_until(given_up)
    assert len(receiver.received) == len(delays)
    gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    # Not before its delay, and not on another entry's (those are minutes off): a second of
    # real time covers a loaded machine's late wake-up without letting a wrong entry through.
    for gap, expected in zip(gaps, delays[1:], strict=True):
        assert expected <= gap < expected + 1.0 + lag.worst, (gaps, lag.worst)


async def test_an_endpoint_is_on_the_standard_schedule_until_a_patch_moves_it(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver
) -> None:
    merchant = await make_merchant()
    endpoint = await make_endpoint(hook_client, merchant, receiver.url)
    assert endpoint["retry_schedule"] == "standard"
    path = f"/webhooks/endpoints/{endpoint['id']}"
    for bad in ("forever", None, 3):
        refused = await hook_client.patch(
            path, json={"retry_schedule": bad}, headers=merchant.headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["success"] is False
    unchanged = await hook_client.get(path, headers=merchant.headers)
    assert unchanged.json()["data"]["retry_schedule"] == "standard"
    moved = await hook_client.patch(path, json={"retry_schedule": "long"}, headers=merchant.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["retry_schedule"] == "long"
    listed = await hook_client.get("/webhooks/endpoints", headers=merchant.headers)
    assert [e["retry_schedule"] for e in listed.json()["data"]] == ["long"]
