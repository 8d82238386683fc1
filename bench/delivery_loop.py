"""``python -m bench.delivery_loop MODE COUNT``: COUNT webhook deliveries made in this process,
between two points where ``bench.instructions`` reads callgrind's counters.

``worker``: the worker (``worker.service.Service``, its settings from the environment, on the
worker's own event loop, uvloop) delivers COUNT test events of the merchant ``BENCH_MERCHANT``
to its endpoint. The events are written before the counters are zeroed, due an hour later;
inside the count one statement makes them all due and the runner is woken, so what is counted is
the worker's own work: leases, signing, the POSTs, the records. What callgrind's slowness used
to add to the count is kept out of it: only the deliveries' lane runs (the other kinds' looks at
their rows are an idle worker's cost, ``bench.idle``, and come once a second whatever the load),
the merchant may hold the whole lane (a try waiting longer than ``runner.HOLD`` for the
merchant's share would be put off, its lease left to lapse and the rows leased again, as often
as callgrind is slow), and whether the deliveries are done is asked of the store only once the
lane is idle. A warm-up of as many deliveries opens every connection the count uses (one lease
takes them all, and each goes on a connection of its own), so none is opened inside it. What is
left still moves with the machine: how many records one transaction joins, how many replies a
turn of the event loop reads (docs/performance.md).
``bare``: a bare aiohttp loop (on asyncio's own event loop, as ``bench.deliveries``' is) signing
and POSTing COUNT events to ``BENCH_URL`` with the secret ``BENCH_SECRET`` (hex), the baseline.

The protocol on stdin and stdout is ``bench.send_loop``'s: ``ready``, a line, ``done``, a line.
"""

import asyncio
import os
import sys
import time
from datetime import timedelta

import aiohttp
from sqlalchemy import func, select, update

from gateway import outbox
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.clock import new_id, utcnow
from keys import sign_headers
from worker.runner import Lane

from .deliveries import CONCURRENCY, _emit
from .send_loop import _step

WARM_UP = 50  # the bare loop's; the worker warms up on as many deliveries as it counts
_D = table_of(WebhookDelivery)


async def _pending(db: Database, merchant_id: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(
            select(func.count())
            .select_from(_D)
            .where(_D.c.merchant_id == merchant_id, _D.c.status == "pending")
        )
        return int(found.scalar_one())


async def _drained(db: Database, merchant_id: str, lane: Lane, *, within: float = 600) -> None:
    """Until none of the merchant's deliveries is pending: a look every 0.2 s, at the store
    only when the lane has no try in flight, so a few in all, however long the count takes."""
    for _ in range(int(within / 0.2)):
        if not lane.running and not await _pending(db, merchant_id):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"deliveries still pending after {within}s")


async def _worker(count: int) -> None:
    from gateway.values.settings import load_settings
    from worker.delivery import DELIVERIES
    from worker.service import Service

    merchant_id = os.environ["BENCH_MERCHANT"]
    settings = load_settings()
    whole = settings.webhook_max_connections
    settings = settings.model_copy(update={"webhook_max_connections_per_merchant": whole})
    db = open_database(settings.database_url, pool_size=1)
    service = Service(settings, kinds=(DELIVERIES,))
    await service.start()
    lane = service.runner.lanes[outbox.WEBHOOK]
    try:
        # As many as are counted, at once: every connection the count uses is open before it.
        await _emit(db, merchant_id, count)
        service.runner.wake_kind(outbox.WEBHOOK)
        await _drained(db, merchant_id, lane)
        ids = await _emit(db, merchant_id, count, first=count)
        later = utcnow() + timedelta(hours=1)
        async with db.transaction() as conn:
            await conn.execute(update(_D).where(_D.c.id.in_(ids)).values(next_attempt_at=later))
        _step("ready")
        async with db.transaction() as conn:
            await conn.execute(update(_D).where(_D.c.id.in_(ids)).values(next_attempt_at=utcnow()))
        service.runner.wake_kind(outbox.WEBHOOK)
        await _drained(db, merchant_id, lane)
        _step("done")
    finally:
        await service.stop()
        await db.dispose()


async def _bare(count: int) -> None:
    url, key = os.environ["BENCH_URL"], bytes.fromhex(os.environ["BENCH_SECRET"])
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def lane(numbers: range) -> None:
            for n in numbers:
                event_id = new_id("evt")
                body = outbox.event_body(
                    event_id, "webhook.test", utcnow(), "staging", {"n": n}
                ).encode()
                headers = {"Content-Type": "application/json"}
                headers.update(sign_headers([key], event_id, int(time.time()), body))
                async with session.post(url, data=body, headers=headers) as reply:
                    await reply.read()

        async def some(total: int) -> None:
            await asyncio.gather(*(lane(range(i, total, CONCURRENCY)) for i in range(CONCURRENCY)))

        await some(WARM_UP)
        _step("ready")
        await some(count)
        _step("done")


if __name__ == "__main__":
    mode, count = sys.argv[1], int(sys.argv[2])
    if mode == "worker":
        from worker.service import run_on_worker_loop

        run_on_worker_loop(_worker(count))  # the loop the worker runs on: uvloop
    else:
        asyncio.run(_bare(count))
