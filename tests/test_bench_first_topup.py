"""``bench/first_topup.py`` at a tiny size, so it cannot rot: a fresh clone, ``make run`` in it
(its install skipped: the clone runs in this checkout's environment, its own code first) and the
dashboard in Chromium to a credit spent at the clone's dev New API, in English, Chinese and
Japanese in turn, each reported beside seed 001's 10 minutes with a ratio at most 1, the
person's reading time beside it and the sum of both. ``make bench`` runs it whole, the install
included: a fresh environment and every dependency installed is too slow for the suite."""

import pytest

from bench.first_topup import BASELINE, BASELINE_SECONDS, FIGURE, READING, TOTAL, reading_seconds
from tests.fixtures.benches import BOUNDED, figures_of, run_bench
from tests.fixtures.browser import chromium_path

LANGS = ("en", "zh", "ja")


# Its clone's make run is on SQLite and holds none of the shared server's connections: a unit
# of its own (``--dist loadgroup``), started early.
@pytest.mark.slow
@BOUNDED
def test_the_first_topup_benchmark_runs_at_a_tiny_size() -> None:
    if chromium_path() is None:
        pytest.skip("install Debian's chromium or set AITOPUP_TEST_CHROMIUM")
    report = run_bench("bench.first_topup", "", AITOPUP_BENCH_FIRST_TOPUP_INSTALL="0")
    assert "first_topup (without make install): clone " in report, report
    for lang in LANGS:
        assert f" {lang} " in report.split("dashboard to credit spent:")[1].splitlines()[0]
        taken, baseline = figures_of(report, f"{FIGURE} ({lang})", BASELINE)
        assert baseline == BASELINE_SECONDS
        assert taken / baseline <= 1, report
        # The person's share beside it, and the sum a newcomer waits.
        reading, _ = figures_of(report, f"{READING} ({lang})", BASELINE)
        both, _ = figures_of(report, f"{TOTAL} ({lang})", BASELINE)
        assert abs(both - (taken + reading)) < 1, report
    assert "no install" in report


def test_the_persons_share_is_the_quick_starts_words_at_a_reading_pace() -> None:
    """Minutes, not seconds, in each language; the same words read slower in Chinese and
    Japanese characters than in English words."""
    for language in LANGS:
        assert 120 < reading_seconds(language) < 1_800, language
    assert reading_seconds("en") < min(reading_seconds("zh"), reading_seconds("ja"))
