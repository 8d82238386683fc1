"""The upstream work's runner: every second, the top-ups whose upstream work is due (the
send's inline try ran out, a transient failure's delay passed, or a process died mid-try) are
claimed, one taker each (``upstreams.work.claim``), and tried (``topup.fulfilling``).

The rows are the truth, not Redis: a lost job or a killed process loses nothing, since the
next sweep finds the row due again once its lease has passed.
"""

import asyncio
import logging
from typing import Any

from gateway import outbox
from gateway.mail import caps
from gateway.topup import fulfilling
from gateway.upstreams import work
from gateway.upstreams.outbound import Upstreams
from gateway.values.clock import utcnow

from .delivery import Deps

__all__ = ["CONCURRENCY", "fulfil_due"]

log = logging.getLogger("aitopup.worker")

CONCURRENCY = 32  # tries in flight at once per worker process


async def fulfil_due(ctx: dict[str, Any]) -> int:
    """ARQ cron ``fulfil_due``: how many due top-ups this sweep tried."""
    deps: Deps = ctx["deps"]
    upstreams: Upstreams = ctx["upstreams"]
    settings = deps.settings
    lease = 3 * settings.fulfilment_timeout_seconds + work.LEASE_MARGIN_SECONDS
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(topup_id: str) -> bool:
        async with slots:
            number = await work.claim(deps.db, topup_id, utcnow(), lease)
            if number is None:
                return False
            gates = caps.Gates(deps.redis, settings)  # the caps on voucher mails
            try:
                tried = await fulfilling.attempt(
                    deps.db, deps.sealer, settings, upstreams.for_env, topup_id, number,
                    gates=gates,
                )  # fmt: skip
            except Exception:
                await gates.settle(None)
                # Left due: the next sweep after the lease tries again.
                log.exception("upstream try crashed", extra={"transaction_id": topup_id})
                return True
            await gates.settle(tried.outcome)
            if tried.outcome is not None and tried.outcome.deliveries:
                await outbox.enqueue(deps.redis, tried.outcome.deliveries)
            return True

    due = await work.due(deps.db, utcnow())
    return sum(await asyncio.gather(*(one(t) for t in due)))
