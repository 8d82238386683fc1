"""Replay jobs as a kind of the runner's (``REPLAY_JOBS``): each try of a leased job is one
bounded batch (``webhooks.replays.run_batch``), written with the job's progress in one
transaction; a job with more to do is due again at once, untried, and its next lease takes the
next batch. A batch that fails is recorded by the common rule (``store.queue.settle``) and tried
again on ``DELAYS``; past them the job is ``failed``, what it replayed so far kept.
"""

import logging
from collections.abc import Callable, Iterable
from typing import Any

from gateway import outbox
from gateway.store.models import WebhookReplayJob, table_of
from gateway.store.queue import Queue, next_try, settle
from gateway.values.settings import Settings
from gateway.webhooks.replays import run_batch

from .deps import Deps
from .kind import Bounds, Leased

__all__ = ["DELAYS", "REPLAY_JOBS", "ReplayJobs"]

log = logging.getLogger("aitopup.worker")

# Before each try of a batch that failed (the first is the job's own, at once).
DELAYS = (0.0, 5.0, 30.0, 120.0, 600.0)
CONCURRENCY = 4  # batches in flight at once per worker process
LEASE_SECONDS = 120.0  # far past a batch's few statements

_J = table_of(WebhookReplayJob)


class ReplayJobs(Leased):
    """A merchant's jobs run one batch at a time per worker (``share`` 1), so one merchant's
    many jobs cannot hold the lane."""

    name = outbox.REPLAY
    queue = Queue(_J, due="pending", done="done", failed="failed")

    def bounds(self, settings: Settings) -> Bounds:
        return Bounds(concurrency=CONCURRENCY, share=1, lease_seconds=LEASE_SECONDS)

    async def attempt(self, deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
        try:
            batch = await run_batch(deps.db, item, deps.clock.now())
        except Exception as exc:  # a bug or an outage: recorded and retried, never lost
            log.exception("replay job %s: the batch failed", item.id)
            sent()
            finished = deps.clock.now()
            at = next_try(DELAYS, int(item.attempts) + 1, finished)
            async with deps.db.transaction() as conn:
                await settle(
                    conn, self.queue, item, error=f"internal: {type(exc).__name__}", at=at,
                    now=finished,
                )  # fmt: skip
            return ()
        sent()
        if batch is None:  # its lease lapsed: whoever holds it now goes on
            return ()
        # The deliveries to send; and the job itself, due again, while it has more to do.
        return [*batch.replayed, *(() if batch.finished else (item.id,))]


REPLAY_JOBS = ReplayJobs()
