"""``bench/scale.py`` at a tiny size, so it cannot rot: with 1 and 2 gateways and 1 and 2
workers, directly and through PgBouncer, every send is accepted, every delivery arrives, and
each figure is reported beside a baseline run with as many processes."""

import pytest

from tests.fixtures.benches import figures_of, run_bench
from tests.fixtures.pgbouncer import pgbouncer_binary

# Each starts gateways, workers and clusters of its own: run one at a time, on one of the run's
# workers (``--dist loadgroup``), so that they never hold the server's connections together.
pytestmark = pytest.mark.xdist_group("processes")


def test_the_scale_benchmark_runs_at_a_tiny_size(postgres_server: str) -> None:
    report = run_bench(
        "bench.scale",
        postgres_server,
        AITOPUP_BENCH_SCALE_ROUNDS="1",
        AITOPUP_BENCH_DELIVERIES="200",
        AITOPUP_BENCH_SCALE_POOLED_PROCESSES="2",  # through PgBouncer, two of each alone
    )
    for figure, baseline in (
        ("send postgres, 1 gateway: req/s", "bare starlette x1"),
        ("send postgres, 2 gateways: req/s", "bare starlette x2"),
        ("deliveries postgres, 1 worker: /s", "bare aiohttp x1 process"),
        ("deliveries postgres, 2 workers: /s", "bare aiohttp x2 processes"),
    ):
        figures_of(report, figure, baseline)
        if pgbouncer_binary() is not None and "2" in figure:  # and through a PgBouncer
            figures_of(report, figure.replace("postgres", "postgres via pgbouncer"), baseline)
