"""``python -m worker``'s startup: what a started worker holds."""

import gc

from tests.conftest import StartWorker


async def test_a_started_worker_freezes_its_long_lived_heap(start_worker: StartWorker) -> None:
    """As the gateway does: a full collection walking the startup heap paused every delivery in
    flight for about 50 ms."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    await start_worker()
    assert gc.get_freeze_count() > 10_000
