"""``bench/deliveries.py`` at a tiny size, so it cannot rot: it prints the plain endpoint's
figures, the ordered endpoint's beside them (its events checked to arrive in order) and a
poller's read rate. On SQLite alone: the suite runs the same code on each store, and the
worker's PostgreSQL statements are the worker's own tests' (``make bench`` runs both)."""

import pytest

from tests.fixtures.benches import BOUNDED, figures_of, run_bench

# Its worker, gateway and receiver hold none of the shared server's connections: a unit of its
# own (``--dist loadgroup``), started early.
pytestmark = [pytest.mark.slow, BOUNDED]


def test_the_deliveries_benchmark_reports_ordered_and_poller_rows() -> None:
    report = run_bench(
        "bench.deliveries",
        "",
        AITOPUP_BENCH_STORES="sqlite",
        AITOPUP_BENCH_DELIVERIES="60",
        AITOPUP_BENCH_ROUNDS="1",
        AITOPUP_BENCH_WARM_UP="20",
        AITOPUP_BENCH_STEADY_SECONDS="0.5",
        AITOPUP_BENCH_ORDERED_DELIVERIES="60",
        AITOPUP_BENCH_ORDERED_RATE="20",
        AITOPUP_BENCH_POLLER_EVENTS="600",
    )
    assert "postgres: " not in report, report
    for figure, baseline in (
        ("one worker: deliveries/s", "bare aiohttp loop"),
        ("event-to-receipt p99 at 200/s", "p99 target"),
        ("ordered endpoint: deliveries/s", "any order"),
        ("ordered: event-to-receipt p99 at 20/s", "any order at 200/s"),
        ("poller: events/s, 250 a read", "one worker: deliveries/s"),
    ):
        figures_of(report, figure, baseline, prefix="sqlite: ")
