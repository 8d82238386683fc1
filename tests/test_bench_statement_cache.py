"""``bench/statement_cache.py`` at a tiny size: the send with the statement cache on, off, off
through a PgBouncer of the bench's own, and on through one keeping prepared statements where one
is built, each a figure beside the cache on."""

import pytest

from tests.fixtures.benches import BOUNDED, figures_of, run_bench
from tests.fixtures.pgbouncer import INSTALL_HINT, KEEPING_HINT, pgbouncer_binary

# It starts gateways of its own: one at a time (``--dist loadgroup``), as the other benches.
pytestmark = [pytest.mark.xdist_group("processes"), BOUNDED]


@pytest.mark.skipif(pgbouncer_binary() is None, reason=INSTALL_HINT)
def test_the_cache_off_is_a_figure_beside_the_cache_on(postgres_server: str) -> None:
    report = run_bench(
        "bench.statement_cache",
        postgres_server,
        AITOPUP_BENCH_CACHE_ROUNDS="1",
        AITOPUP_BENCH_STORES="postgres",
    )
    assert "Traceback" not in report
    prefix = "send postgres, "
    figures_of(
        report, "statement cache off: req/s at 32 clients", "cache on, direct", prefix=prefix
    )
    figures_of(
        report, "via pgbouncer, cache off: req/s at 32 clients", "cache on, direct", prefix=prefix
    )
    figures_of(
        report, "statement cache off: gateway CPU ms a send", "cache on, direct", prefix=prefix
    )
    kept = "via pgbouncer keeping prepared statements, cache on: req/s at 32 clients"
    if pgbouncer_binary(keeping=True) is not None:
        figures_of(report, kept, "cache on, direct", prefix=prefix)
    else:
        assert KEEPING_HINT in report
