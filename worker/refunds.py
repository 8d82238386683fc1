"""Operators' refunds as a kind of the runner's (``REFUNDS``): a refund whose provider did not
answer its inline try (no answer in time, none read, the provider's own failure) is leased once
due and asked again under the same idempotency key (``admin.refunds.attempt``), which records
the answer as the row's transition: succeeded; failed, its debit reversed; or due again on
``DELAYS``, failed and reversed past them.
"""

from collections.abc import Callable, Iterable
from typing import Any

from gateway import outbox
from gateway.admin import refunds

from .deps import Deps
from .kind import SelfRecorded

__all__ = ["REFUNDS", "refund"]

CONCURRENCY = 4  # tries in flight at once per worker process: refunds are rare


async def refund(deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
    """One try of a pending refund; the deliveries of its reversal, if it was given up."""
    tried = await refunds.attempt(deps.db, deps.settings, item, sent, now=deps.clock.now)
    return tried.deliveries


REFUNDS = SelfRecorded(
    name=outbox.REFUND,
    queue=refunds.QUEUE,
    tries=refund,
    concurrency=CONCURRENCY,
    lease_seconds=refunds.lease_seconds,
)
