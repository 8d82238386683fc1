"""Upstream work as a kind of the runner's (``FULFILMENTS``): the top-ups whose upstream work is
due (the send's inline try ran out, a transient failure's delay passed, or a process died
mid-try) are leased like every kind's rows (the lease counts the try) and tried
(``topup.fulfilling``), which records the result as a lifecycle change, or the next try.

Each merchant's share of the upstream connections is kept where the calls go out
(``upstreams.outbound``), so the lane itself gives one merchant all of its room.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from gateway import outbox
from gateway.mail import caps
from gateway.store.raw import Raw
from gateway.topup import fulfilling
from gateway.upstreams import work
from gateway.values.settings import Settings

from .deps import Deps
from .kind import Bounds

__all__ = ["CONCURRENCY", "FULFILMENTS", "Fulfilments"]

log = logging.getLogger("aitopup.worker")

CONCURRENCY = 32  # tries in flight at once per worker process


class Fulfilments:
    name = outbox.FULFILMENT
    queue = work.QUEUE

    def bounds(self, settings: Settings) -> Bounds:
        return Bounds(
            concurrency=CONCURRENCY,
            share=CONCURRENCY,
            lease_seconds=3 * settings.fulfilment_timeout_seconds + work.LEASE_MARGIN_SECONDS,
        )

    async def taken(self, tx: Raw, rows: list[SimpleNamespace], now: datetime) -> Sequence[Any]:
        return rows

    def merchant(self, item: Any) -> str:
        return str(item.merchant_id)

    async def attempt(self, deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
        # The try records itself (``topup.fulfilling``): its room is held until it has.
        settings = deps.settings
        gates = caps.Gates(deps.redis, settings)  # the caps on voucher mails
        try:
            tried = await fulfilling.attempt(
                deps.db, deps.sealer, settings, deps.upstreams.for_env, item.topup_id,
                item.attempts, gates=gates,
            )  # fmt: skip
        except Exception:
            await gates.settle(None)
            raise  # left leased: due again once the lease lapses
        await gates.settle(tried.outcome)
        return () if tried.outcome is None else tried.outcome.deliveries


FULFILMENTS = Fulfilments()
