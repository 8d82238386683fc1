"""What the gateway and the worker read of an upstream's answer is bounded: an upstream that
streams without end is refused at the cap, and the processes' memory stays where it was. Both run
in this process (the app in-process, the worker in this event loop), so the test process's peak
resident memory is theirs. On SQLite and PostgreSQL."""

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select

from gateway.store.engine import Database
from gateway.store.models import Topup
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import endless_search, send_body, serve_raw, use_newapi
from tests.fixtures.workers import StartWorker

_STATUS = Path("/proc/self/status")
_MIB = 1024


def _kib(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB$", _STATUS.read_text(), re.MULTILINE)
    assert found is not None, field
    return int(found.group(1))


@contextmanager
def peak_growth() -> Iterator[list[int]]:
    """The most this process's resident memory grew above where it stood, in KiB, while the
    block ran: the peak (``VmHWM``) is reset to the present on entering
    (``/proc/self/clear_refs``), so memory taken and freed inside the block counts too."""
    growth: list[int] = []
    before = _kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    yield growth
    growth.append(_kib("VmHWM") - before)


async def test_an_endless_answer_is_refused_at_the_cap_without_growing_memory(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    start_worker: StartWorker,
) -> None:
    async with serve_raw(endless_search) as served:
        merchant = await make_merchant("staging", balance_cents=100_000)
        await use_newapi(fulfil_client, merchant, served.root)
        h = merchant.headers
        # The first of each warms what any first call builds (connections, caches, pools).
        await fulfil_client.post("/fulfilment/claude/test", headers=h)
        await start_worker(fulfilment_retry_schedule="0.05", fulfilment_timeout_seconds=2)

        async def statuses() -> dict[str, int]:
            async with db.read() as conn:
                rows = await conn.execute(
                    select(Topup.status, func.count())
                    .where(Topup.merchant_id == merchant.merchant_id)
                    .group_by(Topup.status)
                )
                return {r[0]: r[1] for r in rows}

        with peak_growth() as growth:
            tests = [fulfil_client.post("/fulfilment/claude/test", headers=h) for _ in range(8)]
            sends = [
                fulfil_client.post("/topup/send", json=send_body(100), headers=h) for _ in range(8)
            ]
            answers = await asyncio.gather(*tests, *sends)

            async def all_failed() -> bool:
                return await statuses() == {"failed": 8}

            # The sends' inline tries met a 503 (a create); the worker's next try asks first
            # (a read), and that answer never ends.
            await wait_until(all_failed, within=30)
        [grew] = growth
        assert grew < 50 * _MIB, f"grew {grew // _MIB} MiB"
        for tested in answers[:8]:
            body = tested.json()
            assert (tested.status_code, body["code"]) == (502, 4202), tested.text
            # Past the cap the far side is not a New API; the byte count is for the log alone.
            assert body["data"]["outcome"] == "not_the_provider", body
        for sent in answers[8:]:
            assert sent.json()["status"] == "pending", sent.text
