"""``bench/delivery_loop.py``, the worker whose deliveries ``make bench`` counts the instructions
of, run at a tiny size without valgrind: between its marks it delivers its COUNT events, its
wait ended by the tries themselves (no look at the store by the clock), and once past its last
mark it checks that none is left pending, exiting with an error if one is."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bench.deliveries import worker_bench
from bench.instructions import _merchant
from gateway.store.migrate import upgrade
from gateway.store.models import WebhookDelivery, table_of
from tests.fixtures.benches import ROOT, go_on, said, statuses

# It starts a receiver and a Redis of its own: one at a time, as the other benches.
pytestmark = pytest.mark.xdist_group("processes")

COUNT = 5
_D = table_of(WebhookDelivery)


def test_the_worker_delivers_its_count_between_the_marks(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'deliveries.db'}"
    upgrade(database_url)
    with worker_bench(tmp_path, database_url) as (env, port):
        merchant_id, _ = asyncio.run(_merchant(database_url, f"http://127.0.0.1:{port}/hook"))
        with subprocess.Popen(
            [sys.executable, "-m", "bench.delivery_loop", "worker", str(COUNT)],
            cwd=ROOT,
            env={**env, "BENCH_MERCHANT": merchant_id, "AITOPUP_LOG_LEVEL": "WARNING"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as proc:
            try:
                said(proc, "ready")  # the warm-up's delivered; the counted ones not yet due
                assert asyncio.run(statuses(database_url, _D)) == {
                    "succeeded": COUNT,
                    "pending": COUNT,
                }
                go_on(proc)
                said(proc, "done")
                assert asyncio.run(statuses(database_url, _D)) == {"succeeded": 2 * COUNT}
                go_on(proc)
                assert proc.wait(timeout=60) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
