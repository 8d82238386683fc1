"""``bench/retention.py`` at a tiny size: a week of history dropped whole and another deleted in
batches, each figure of rows removed a second there, beside the other; and compressed weeks of
history under retention, whose size is flat once the first weeks are dropped."""

import pytest

from tests.fixtures.benches import BOUNDED, figures_of, run_bench

# It makes a database of its own: one at a time (``--dist loadgroup``), as the other benches.
pytestmark = [pytest.mark.xdist_group("processes"), BOUNDED]


def test_a_drop_is_a_figure_beside_the_deletes_and_the_history_stays_flat(
    postgres_server: str,
) -> None:
    report = run_bench(
        "bench.retention",
        postgres_server,
        AITOPUP_BENCH_RETENTION_ROWS="3000",
        AITOPUP_BENCH_RETENTION_WEEKS="5",
        AITOPUP_BENCH_RETENTION_DAY_ROWS="200",
    )
    assert "Traceback" not in report
    figures_of(
        report, "retention postgres, 12,000 rows: rows removed/s by a drop", "deleted in batches"
    )
    label = "retention postgres, 5 compressed weeks: "
    last, settled = figures_of(report, f"{label}history rows at the end", "after the first drops")
    assert last == settled, report
    dropped, _ = figures_of(report, f"{label}partitions dropped", "made")
    assert dropped >= 2 * 4, report  # two weeks of every table, at least
    deleted, written = figures_of(
        report, f"{label}rows deleted (shorter retention)", "rows written"
    )
    assert deleted < written / 2, report  # the shorter merchant's, half of what was written
    assert "MISSED" not in report, report
