"""``python -m worker``'s startup: what a started worker holds."""

import gc
import logging

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


async def test_a_worker_told_it_is_pooled_sends_no_settings_whatever_its_cache(
    start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind a pooler that keeps prepared statements the cache stays on, and PgBouncer refuses
    a startup parameter it does not track: told it is pooled, the worker sends none and takes
    its planner settings from its role, saying which its role lacks (this test's role has
    none of them)."""
    with caplog.at_level(logging.WARNING, logger="aitopup.worker"):
        running = await start_worker(database_pooled=True, database_statement_cache=True)
    if running.deps.db.is_sqlite:
        pytest.skip("PostgreSQL's session settings")
    shown = Statement("SHOW enable_seqscan")
    [row] = await running.deps.db.run(lambda tx: tx.fetch(shown, {}), read_only=True)
    assert str(*row.values()) == "on"
    [said] = [r.getMessage() for r in caplog.records if "planner settings" in r.getMessage()]
    assert "enable_seqscan = off" in said
