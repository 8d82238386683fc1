"""Agents' payments to sellers as a kind of the runner's (``PAYMENTS``): a payment's work is
leased once due and tried (``sellers.holds``): a ``pending`` one past its request's
deadline made again or failed and released; an ``authorized`` one's use looked at, and at its
expiry released; one held for approval expired and released when its window closes.
"""

from collections.abc import Callable, Iterable
from typing import Any

from gateway import outbox
from gateway.sellers import holds
from gateway.sellers.states import QUEUE

from .deps import Deps
from .kind import SelfRecorded

__all__ = ["PAYMENTS", "hold"]

CONCURRENCY = 8  # tries in flight at once per worker process


async def hold(deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
    """One try of a payment's work; the deliveries of the move it made."""
    return await holds.attempt(deps.db, deps.sealer, deps.settings, item, sent, now=deps.clock.now)


PAYMENTS = SelfRecorded(
    name=outbox.PAYMENT,
    queue=QUEUE,
    tries=hold,
    concurrency=CONCURRENCY,
    lease_seconds=holds.lease_seconds,
)
