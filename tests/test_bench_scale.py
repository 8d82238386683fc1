"""``bench/scale.py`` at a tiny size, so it cannot rot: one gateway and one worker directly, two
of each through PgBouncer (where it is installed, else two directly too), every send accepted,
every delivery arrived, and each figure reported beside a baseline run with as many processes.

One count on each route, not both counts on both: the rows of one and of two processes are the
same code with ``n`` (the closed loop split over ``n`` gateways, the burst over ``n`` workers),
so one gateway proves the direct route's rows and two prove the split, through the stricter
route (transaction mode, the statement cache off, the workers' role), where a process that
broke either would fail its row."""

import pytest

from tests.fixtures.benches import BOUNDED, figures_of, run_bench
from tests.fixtures.pgbouncer import pgbouncer_binary

# Each starts gateways, workers and clusters of its own: run one at a time, on one of the run's
# workers (``--dist loadgroup``), so that they never hold the server's connections together.
pytestmark = [pytest.mark.xdist_group("processes"), BOUNDED]


def test_the_scale_benchmark_runs_at_a_tiny_size(postgres_server: str) -> None:
    pooled = pgbouncer_binary() is not None
    report = run_bench(
        "bench.scale",
        postgres_server,
        AITOPUP_BENCH_SCALE_ROUNDS="1",
        AITOPUP_BENCH_DELIVERIES="200",
        AITOPUP_BENCH_SCALE_PROCESSES="1" if pooled else "1,2",
        AITOPUP_BENCH_SCALE_POOLED_PROCESSES="2",
    )
    two = "postgres via pgbouncer" if pooled else "postgres"
    for figure, baseline in (
        ("send postgres, 1 gateway: req/s", "bare starlette x1"),
        (f"send {two}, 2 gateways: req/s", "bare starlette x2"),
        ("deliveries postgres, 1 worker: /s", "bare aiohttp x1 process"),
        (f"deliveries {two}, 2 workers: /s", "bare aiohttp x2 processes"),
    ):
        figures_of(report, figure, baseline)
    if pooled:  # each count on its one route
        assert "send postgres, 2 gateways" not in report, report
        assert "send postgres via pgbouncer, 1 gateway" not in report, report
