"""``bench/deliveries.py`` at a tiny size, so it cannot rot: on both stores it prints the plain
endpoint's figures, the ordered endpoint's beside them (its events checked to arrive in order)
and a poller's read rate."""

import pytest

from tests.fixtures.benches import figures_of, run_bench

# Each starts workers, gateways and receivers of its own: run one at a time, on one of the run's
# workers (``--dist loadgroup``), so that they never hold the server's connections together.
pytestmark = pytest.mark.xdist_group("processes")


def test_the_deliveries_benchmark_reports_ordered_and_poller_rows(postgres_server: str) -> None:
    report = run_bench(
        "bench.deliveries",
        postgres_server,
        AITOPUP_BENCH_DELIVERIES="60",
        AITOPUP_BENCH_ROUNDS="1",
        AITOPUP_BENCH_WARM_UP="20",
        AITOPUP_BENCH_STEADY_SECONDS="0.5",
        AITOPUP_BENCH_ORDERED_DELIVERIES="60",
        AITOPUP_BENCH_ORDERED_RATE="20",
        AITOPUP_BENCH_POLLER_EVENTS="600",
    )
    for store in ("sqlite", "postgres"):
        for figure, baseline in (
            ("one worker: deliveries/s", "bare aiohttp loop"),
            ("event-to-receipt p99 at 200/s", "p99 target"),
            ("ordered endpoint: deliveries/s", "any order"),
            ("ordered: event-to-receipt p99 at 20/s", "any order at 200/s"),
            ("poller: events/s, 250 a read", "one worker: deliveries/s"),
        ):
            figures_of(report, figure, baseline, prefix=f"{store}: ")
