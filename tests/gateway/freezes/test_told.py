"""The kill switch is always told, end to end: with the merchant's operational events of the hour
all spent (as five flapping endpoints spend them in a minute), a freeze and an unfreeze through
the API still reach the merchant's endpoint (``environment.frozen``, ``environment.unfrozen``)
and each owner's inbox on a real SMTP server, while the operational events the bound is for
stay bounded. A storm of concurrent pulls and lifts across gateway processes tells each change
exactly once."""

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select

from gateway.store.engine import Database
from gateway.store.models import Mail, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from gateway.webhooks.health import within_operational_count
from tests.fixtures.core import local_client, wait_until
from tests.fixtures.mail import Inbox, text_of
from tests.fixtures.merchants import MakeMerchant, MerchantKey, add_member
from tests.fixtures.policies import set_policy, two_gateways
from tests.fixtures.webhooks import Receiver, events_of, make_endpoint, spend_operational_bound
from tests.fixtures.workers import StartWorker

SWITCH = ["environment.frozen", "environment.unfrozen"]
_M = table_of(Mail)


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


RACERS = 24


async def _mails(db: Database, merchant_id: str) -> int:
    async with db.read() as conn:
        found = select(func.count()).select_from(_M)
        found = found.where(_M.c.merchant_id == merchant_id, _M.c.kind == "environment_freeze")
        return int((await conn.execute(found)).scalar_one())


async def _storm(db: Database, roots: list[str], make_merchant: MakeMerchant) -> None:
    """Concurrent pulls and lifts of the switch: each change is told exactly once, however many
    race for it, and a leashed key racing a free one never lifts it."""
    merchant = await make_merchant("staging")
    leashed = await make_merchant("staging", merchant_id=merchant.merchant_id)
    daily = [{"amount_cents": 100, "interval": "daily"}]
    await set_policy(
        db, leashed.key_id, {"scopes": ["topup:send", "topup:read", "keys"], "limits": daily}
    )
    for _ in range(2):
        await add_member(db, merchant.merchant_id)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(local_client(base_url=root, timeout=60))
            for root in roots
        ]

        async def call(i: int, method: str, key: MerchantKey) -> Any:
            http = clients[i % len(clients)]
            body: dict[str, Any] | None = {} if method == "POST" else None  # DELETE: none
            return (await http.request(method, "/freeze", json=body, headers=key.headers)).json()

        pulled = await asyncio.gather(
            *(call(i, "POST", (merchant, leashed)[i % 2]) for i in range(RACERS))
        )
        assert {r["code"] for r in pulled} == {1000}, pulled
        assert {r["data"]["frozen"] for r in pulled} == {True}
        assert len({r["data"]["frozen_at"] for r in pulled}) == 1
        lifted = await asyncio.gather(
            *(call(i, "DELETE", (merchant, leashed)[i % 2]) for i in range(RACERS))
        )
    codes = sorted(r["code"] for r in lifted)
    assert codes == [1000] * (RACERS // 2) + [2420] * (RACERS // 2)
    assert len(await events_of(db, merchant.merchant_id, "environment.frozen")) == 1
    assert len(await events_of(db, merchant.merchant_id, "environment.unfrozen")) == 1
    assert await _mails(db, merchant.merchant_id) == 4  # two owners, two changes


async def test_a_storm_of_pulls_and_lifts_across_two_processes(
    db: Database, settings: Settings, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    async with two_gateways(db, settings, tmp_path) as roots:
        await _storm(db, roots, make_merchant)


async def test_a_storm_of_pulls_and_lifts_on_one_live_server(
    db: Database, live_url: str, make_merchant: MakeMerchant
) -> None:
    await _storm(db, [live_url], make_merchant)
