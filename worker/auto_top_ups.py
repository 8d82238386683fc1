"""Auto top-ups as a kind of the runner's (``AUTO_TOP_UPS``): a run written by the debit that
crossed its wallet's threshold is leased once due, and tried (``billing.auto_top_up.attempt``):
charged and credited, capped, refused (the third refusal in a row turns it off), or due again
while the provider's answer is not known.
"""

from collections.abc import Callable, Iterable
from typing import Any

from gateway import outbox
from gateway.billing import auto_top_up
from gateway.billing.auto_top_up import runs

from .deps import Deps
from .kind import SelfRecorded

__all__ = ["AUTO_TOP_UPS", "top_up"]

CONCURRENCY = 4  # tries in flight at once per worker process: one a wallet at most


async def top_up(deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
    """One try of a due run; the outbox rows its record wrote."""
    tried = await runs.attempt(deps.db, deps.settings, deps.sealer, item, deps.clock.now(), sent)
    return tried.deliveries


AUTO_TOP_UPS = SelfRecorded(
    name=outbox.AUTO_TOP_UP,
    queue=auto_top_up.QUEUE,
    tries=top_up,
    concurrency=CONCURRENCY,
    lease_seconds=auto_top_up.lease_seconds,
)
