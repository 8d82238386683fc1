"""``bench/retention.py`` at a tiny size: a week of history dropped whole and another deleted in
batches, each figure of rows removed a second there, beside the other."""

import pytest

from tests.fixtures.benches import figures_of, run_bench

# It makes a database of its own: one at a time (``--dist loadgroup``), as the other benches.
pytestmark = pytest.mark.xdist_group("processes")


def test_a_drop_is_a_figure_beside_the_deletes(postgres_server: str) -> None:
    report = run_bench("bench.retention", postgres_server, AITOPUP_BENCH_RETENTION_ROWS="3000")
    assert "Traceback" not in report
    figures_of(
        report,
        "retention postgres, 12,000 rows: rows removed/s by a drop",
        "deleted in batches",
    )
