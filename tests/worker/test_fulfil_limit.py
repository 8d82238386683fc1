"""An OpenRouter send that fails for good leaves the recipient's key limit at the absolute total
sent to them: a concurrent send had set it with the failed amount counted (pending then), and
the failure sets it back, so the recipient cannot spend what was refunded. On SQLite and
PostgreSQL."""

import httpx
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import Topup, UpstreamKey
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import assert_ledger_balanced
from tests.fixtures.upstreams import MakeUpstreamMerchant, OpenRouterStandIn, send_body
from tests.fixtures.workers import StartWorker


async def test_a_failed_send_sets_the_key_limit_back_to_the_total(
    fulfil_client: httpx.AsyncClient,
    openrouter_merchant: MakeUpstreamMerchant,
    db: Database,
    start_worker: StartWorker,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, _ = openrouter_standin
    merchant = await openrouter_merchant(balance_cents=10_000)

    async def send(cents: int) -> dict[str, object]:
        sent = await fulfil_client.post(
            "/topup/send", json=send_body(cents), headers=merchant.headers
        )
        body: dict[str, object] = sent.json()
        return body

    assert (await send(300))["code"] == 1001
    [key] = openrouter.keys.values()
    assert key["limit"] == 3.0
    openrouter.faults.fail_next = 1  # the next send's inline try meets a 503: pending
    pending = await send(200)
    assert pending["code"] == 1002
    failing = pending["transaction_id"]
    # A later send sets the total, the pending one counted in it.
    assert (await send(100))["code"] == 1001
    assert key["limit"] == 6.0

    # The pending send's two retries meet 503s too: it fails for good and is refunded.
    openrouter.faults.fail_next = 2
    await start_worker(fulfilment_retry_schedule="0.1,0.2", fulfilment_timeout_seconds=0.5)

    async def failed() -> bool:
        async with db.read() as conn:
            found = await conn.execute(select(Topup.status).where(Topup.id == failing))
            return found.scalar_one() == "failed"

    await wait_until(failed, within=20)

    async def set_back() -> bool:
        async with db.read() as conn:
            kept = await conn.execute(
                select(UpstreamKey.limit_cents).where(
                    UpstreamKey.merchant_id == merchant.merchant_id
                )
            )
            return (key["limit"], kept.scalar_one()) == (4.0, 400)

    await wait_until(set_back, within=5)
    balance = (await fulfil_client.get("/balance", headers=merchant.headers)).json()["data"]
    assert (balance["balance_cents"], balance["held_cents"]) == (9_600, 0)
    await assert_ledger_balanced(db)
