"""Running an operation for any door: the workers are woken for its outbox rows once it has
committed.

Every door (REST, the dashboard, MCP, the CLI, the admin API) runs an operation that makes work
for the worker through ``perform``; none wakes the workers by hand
(``tests/gateway/test_operations.py``).

Redis is never the truth (the outbox rows are), so the wake is best effort and happens only
after the operation's transaction: a worker woken before the commit would find nothing.
"""

from collections.abc import Awaitable

from .values.outcome import Outcome
from .wakes import Waker

__all__ = ["perform", "performed"]


async def perform(waker: Waker, operation: Awaitable[Outcome]) -> Outcome:
    """Await ``operation`` (which commits before it returns), then wake the workers for the
    outbox rows it wrote or made due."""
    return performed(waker, await operation)


def performed(waker: Waker, outcome: Outcome) -> Outcome:
    """``outcome``, of work that has committed already (an upstream's try, which records its
    answer itself): the workers woken for the outbox rows it wrote or made due."""
    if outcome.deliveries:
        waker.wake(outcome.deliveries)
    return outcome
