"""``python -m worker``'s startup: what a started worker holds."""

import gc

import pytest

from gateway.store.raw import Statement
from tests.fixtures.workers import StartWorker
from worker.store import POSTGRES_SETTINGS


async def test_a_started_worker_freezes_its_long_lived_heap(start_worker: StartWorker) -> None:
    """As the gateway does: a full collection walking the startup heap paused every delivery in
    flight for about 50 ms. The collector, which ``python -m worker`` holds off while it imports,
    is on once the worker has started."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    gc.disable()
    try:
        await start_worker()
        assert gc.isenabled()
    finally:
        gc.enable()
    assert gc.get_freeze_count() > 10_000


async def test_a_started_worker_plans_its_statements_by_key(start_worker: StartWorker) -> None:
    """Its own PostgreSQL sessions carry the planner settings its batch statements rely on
    (``worker.store.POSTGRES_SETTINGS``; the plans themselves: ``test_store``)."""
    running = await start_worker()
    deps = running.deps
    if deps.db.is_sqlite:
        pytest.skip("PostgreSQL's session settings")
    for name, value in POSTGRES_SETTINGS.items():
        shown = Statement(f"SHOW {name}")
        [row] = await deps.db.run(lambda tx, s=shown: tx.fetch(s, {}), read_only=True)
        assert str(*row.values()) == value
