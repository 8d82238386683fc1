"""Running an operation for any door: its deliveries are enqueued once it has committed.

Every door (REST, the dashboard, MCP, the CLI, the admin API) runs an operation that makes work
for the worker through ``perform``; none enqueues by hand (``tests/gateway/test_operations.py``).

Redis is never the truth (the outbox rows are), so the enqueue is best effort and happens only
after the operation's transaction: a job must never run before its row exists.
"""

from collections.abc import Awaitable

from .values.outcome import Outcome
from .webhooks.enqueuer import Enqueuer

__all__ = ["perform"]


async def perform(enqueuer: Enqueuer, operation: Awaitable[Outcome]) -> Outcome:
    """Await ``operation`` (which commits before it returns), then enqueue its deliveries."""
    outcome = await operation
    if outcome.deliveries:
        enqueuer.enqueue(outcome.deliveries)
    if outcome.jobs:
        enqueuer.enqueue_jobs(outcome.jobs)
    return outcome
