"""The kill switch is always told, end to end: with the merchant's operational events of the hour
all spent (as five flapping endpoints spend them in a minute), a freeze and an unfreeze through
the API still reach the merchant's endpoint (``environment.frozen``, ``environment.unfrozen``)
and each owner's inbox on a real SMTP server, while the operational events the bound is for
stay bounded."""

import json

import httpx
from pydantic import SecretStr

from gateway.store.db import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from gateway.webhooks.health import within_operational_count
from tests.fixtures.core import wait_until
from tests.fixtures.mail import Inbox, text_of
from tests.fixtures.merchants import MakeMerchant, add_member
from tests.fixtures.webhooks import Receiver, make_endpoint, spend_operational_bound
from tests.fixtures.workers import StartWorker

SWITCH = ["environment.frozen", "environment.unfrozen"]


async def test_a_freeze_and_an_unfreeze_are_told_with_the_operational_bound_spent(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    smtp_server: Inbox,
    settings: Settings,
    db: Database,
) -> None:
    await start_worker(smtp_url=SecretStr(smtp_server.url), mail_retry_schedule="0,0.2")
    merchant = await make_merchant("staging")
    owners = {await add_member(db, merchant.merchant_id) for _ in range(2)}
    await make_endpoint(hook_client, merchant, receiver.url, event_types=SWITCH)
    per_hour = settings.webhook_operational_events_per_hour
    await spend_operational_bound(db, merchant.merchant_id, "staging", per_hour)

    frozen = await hook_client.post("/freeze", json={}, headers=merchant.headers)
    assert frozen.json()["data"]["frozen"] is True, frozen.text

    async def told(events: int, mails: int) -> bool:
        return len(receiver.received) >= events and len(smtp_server.received) >= mails

    await wait_until(lambda: told(1, 2))
    thawed = await hook_client.delete("/freeze", headers=merchant.headers)
    assert thawed.json()["data"]["frozen"] is False, thawed.text
    await wait_until(lambda: told(2, 4))

    assert [json.loads(r.body)["type"] for r in receiver.received] == SWITCH
    assert {str(m["To"]) for m in smtp_server.received} == owners
    subjects = sorted(str(m["Subject"]).split(" (")[0] for m in smtp_server.received)
    assert (
        subjects
        == ["Your staging environment was frozen"] * 2
        + ["Your staging environment was unfrozen"] * 2
    )
    assert all(f"key {merchant.key_id}" in text_of(m) for m in smtp_server.received)
    # The bound is still spent for the events it bounds.
    assert not await db.run(
        lambda tx: within_operational_count(tx, "staging", merchant.merchant_id, per_hour, utcnow())
    )
