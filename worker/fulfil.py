"""Upstream work as a kind of the runner's (``FULFILMENTS``): the top-ups whose upstream work is
due (the send's inline try ran out, a transient failure's delay passed, or a process died
mid-try) are leased like every kind's rows (the lease counts the try) and tried
(``topup.fulfilling``), which records the result as a lifecycle change, or the next try.

Each merchant's share of the upstream connections is kept where the calls go out
(``upstreams.outbound``), so the lane itself gives one merchant all of its room.
"""

from collections.abc import Callable, Iterable
from typing import Any

from gateway import outbox
from gateway.mail import caps
from gateway.topup import fulfilling
from gateway.upstreams import work
from gateway.values.settings import Settings

from .deps import Deps
from .kind import SelfRecorded

__all__ = ["CONCURRENCY", "FULFILMENTS", "fulfil"]

CONCURRENCY = 32  # tries in flight at once per worker process


async def fulfil(deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
    """One try of a top-up's upstream work; the deliveries of the change it recorded."""
    # The try records itself (``topup.fulfilling``): its room is held until it has.
    settings = deps.settings
    gates = caps.Gates(deps.redis, settings)  # the caps on voucher mails
    try:
        tried = await fulfilling.attempt(
            deps.db, deps.sealer, settings, deps.upstreams.for_env, item.topup_id,
            item.attempts, now=deps.clock.now, gates=gates,
        )  # fmt: skip
    except Exception:
        await gates.settle(None)
        raise  # left leased: due again once the lease lapses
    await gates.settle(tried.outcome)
    return () if tried.outcome is None else tried.outcome.deliveries


def _lease_seconds(settings: Settings) -> float:
    return 3 * settings.fulfilment_timeout_seconds + work.LEASE_MARGIN_SECONDS


FULFILMENTS = SelfRecorded(
    name=outbox.FULFILMENT,
    queue=work.QUEUE,
    tries=fulfil,
    concurrency=CONCURRENCY,
    lease_seconds=_lease_seconds,
)
