"""``python -m bench.delivery_loop MODE COUNT``: COUNT webhook deliveries made in this process,
between two points where ``bench.instructions`` reads callgrind's counters.

``worker``: the worker (``worker.service.Service``, its settings from the environment, on the
worker's own event loop, uvloop) delivers COUNT test events of the merchant ``BENCH_MERCHANT``
to its endpoint. The events are written before the counters are zeroed, due an hour later;
inside the count one statement makes them all due and the runner is woken, so what is counted is
the worker's own work: leases, signing, the POSTs, the records. What callgrind's slowness used
to add to the count is kept out of it: only the deliveries' lane runs (the other kinds' looks at
their rows are an idle worker's cost, ``bench.idle``, and come once a second whatever the load),
and no periodic job (ARQ's poll of Redis and its jobs by the minute, the same idle cost, would
join a count as often as the count spans their times); the merchant may hold the whole lane (a
try waiting longer than ``runner.HOLD`` for the merchant's share would be put off, its lease left
to lapse and the rows leased again, as often as callgrind is slow); and the count ends when the
last try ends, told by the tries themselves (the runner's wake after each record), with no look
of the bench's by the clock while they run. That the deliveries are all done is asked of the
store after the counters are dumped. A warm-up of as many deliveries opens every connection the
count uses (one lease takes them all, and each goes on a connection of its own), so none is
opened inside it. What is left still moves with the machine: how many records one transaction
joins, how many replies a turn of the event loop reads (docs/performance.md).
``bare``: a bare aiohttp loop (on asyncio's own event loop, as ``bench.deliveries``' is) signing
and POSTing COUNT events to ``BENCH_URL`` with the secret ``BENCH_SECRET`` (hex), the baseline.

The protocol on stdin and stdout is ``bench.send_loop``'s: ``ready``, a line, ``done``, a line.
"""

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
from sqlalchemy import Update, func, select, update

from gateway import outbox
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.models import WebhookDelivery, table_of
from gateway.values.clock import new_id, utcnow
from keys import sign_headers

from .deliveries import CONCURRENCY, _emit
from .send_loop import _step

if TYPE_CHECKING:
    from worker.service import Service

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


def _due(merchant_id: str) -> Update:
    """The merchant's pending deliveries, to set when they are due."""
    return update(_D).where(_D.c.merchant_id == merchant_id, _D.c.status == "pending")


async def _set(event: asyncio.Event, within: float) -> None:
    async with asyncio.timeout(within):  # one timer, armed once
        await event.wait()


def _counting(service: "Service") -> Callable[[int], Awaitable[None]]:
    """``expect(count)``: from the call on, a wait for the worker's next ``count`` tries to end,
    told by each try's own end (the runner's wake after its record), not by a look at the
    clock: nothing of the bench's runs while the deliveries do. Called before the rows are due,
    so no try ends uncounted."""
    deps = service.deps
    wake = deps.wake
    ended = 0
    enough = asyncio.Event()
    wanted = 0

    def counted(ids: Iterable[str]) -> None:
        nonlocal ended
        ended += 1
        if ended >= wanted:
            enough.set()
        wake(ids)

    deps.wake = counted

    def expect(count: int, *, within: float = 600) -> Awaitable[None]:
        nonlocal ended, wanted
        ended, wanted = 0, count
        enough.clear()
        return _set(enough, within)

    return expect


async def _worker(count: int) -> None:
    from gateway.values.settings import load_settings
    from worker.delivery import DELIVERIES
    from worker.service import Service

    merchant_id = os.environ["BENCH_MERCHANT"]
    settings = load_settings()
    whole = settings.webhook_max_connections
    settings = settings.model_copy(update={"webhook_max_connections_per_merchant": whole})
    db = open_database(settings.database_url, pool_size=1)
    service = Service(settings, kinds=(DELIVERIES,), periodic=False)
    await service.start()
    expect = _counting(service)
    try:
        # As many as are counted, at once: every connection the count uses is open before it.
        warmed = expect(count)
        await _emit(db, merchant_id, count)
        service.runner.wake_kind(outbox.WEBHOOK)
        await warmed
        await _emit(db, merchant_id, count, first=count)
        later = utcnow() + timedelta(hours=1)
        async with db.transaction() as conn:
            await conn.execute(_due(merchant_id).values(next_attempt_at=later))
        _step("ready")
        counted = expect(count)
        async with db.transaction() as conn:  # by the merchant: one value bound, not COUNT ids
            await conn.execute(_due(merchant_id).values(next_attempt_at=utcnow()))
        service.runner.wake_kind(outbox.WEBHOOK)
        await counted
        _step("done")
        # After the dump: a count whose tries did not all deliver is no count of deliveries.
        if left := await _pending(db, merchant_id):
            raise RuntimeError(f"{left} deliveries still pending after {count} tries")
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
