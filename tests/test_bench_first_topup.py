"""``bench/first_topup.py`` at a tiny size, so it cannot rot: a fresh clone, ``make run`` in it
(its install skipped: the clone runs in this checkout's environment, its own code first) and the
dashboard in Chromium to a credit spent at the clone's dev New API, reported beside seed 001's
10 minutes with a ratio at most 1. ``make bench`` runs it whole, the install included: a fresh
environment and every dependency installed is too slow for the suite."""

import pytest

from bench.first_topup import BASELINE, BASELINE_SECONDS, FIGURE
from tests.fixtures.benches import figures_of, run_bench
from tests.fixtures.browser import chromium_path

# Its clone's make run is on SQLite and holds none of the shared server's connections: a unit
# of its own (``--dist loadgroup``), started early.
pytestmark = pytest.mark.slow


def test_the_first_topup_benchmark_runs_at_a_tiny_size() -> None:
    if chromium_path() is None:
        pytest.skip("install Debian's chromium or set AITOPUP_TEST_CHROMIUM")
    report = run_bench("bench.first_topup", "", timeout=240, AITOPUP_BENCH_FIRST_TOPUP_INSTALL="0")
    assert "first_topup (without make install): clone " in report, report
    taken, baseline = figures_of(report, FIGURE, BASELINE)
    assert baseline == BASELINE_SECONDS
    assert taken / baseline <= 1, report
