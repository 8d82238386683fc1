"""How a job that carries many attempts (``deliver_many``, ``send_mails``) runs them."""

import asyncio
from collections.abc import Awaitable, Iterable

__all__ = ["each_at_once"]


async def each_at_once(attempts: Iterable[Awaitable[str | None]]) -> dict[str, int]:
    """Runs every attempt at once and on its own; how many ended in each state (``None`` counts
    as ``skipped``). If any raised, the first failure is raised once all have finished, so ARQ
    runs the job again: what was done is no longer in the state the job names, and only the rest
    is tried."""
    results = await asyncio.gather(*attempts, return_exceptions=True)
    counts: dict[str, int] = {}
    for result in results:
        if isinstance(result, BaseException):
            raise result
        state = result or "skipped"
        counts[state] = counts.get(state, 0) + 1
    return counts
