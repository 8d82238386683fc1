"""``bench/history.py`` at a tiny size, so it cannot rot: the history loads into every table it
names, each list's deep page is one the gateway accepts (a refused cursor or offset fails the
run), and every figure is reported beside its empty-store baseline."""

import json
import re

import pytest

from bench.history import LISTS, measured_lists
from tests.fixtures.benches import BOUNDED, run_bench

# Each starts gateways, workers and clusters of its own: run one at a time, on one of the run's
# workers (``--dist loadgroup``), so that they never hold the server's connections together.
pytestmark = [pytest.mark.xdist_group("processes"), BOUNDED]


def test_the_history_benchmark_runs_at_a_tiny_size(postgres_server: str) -> None:
    report = run_bench(
        "bench.history",
        postgres_server,
        AITOPUP_BENCH_HISTORY_ROWS="3000",
        AITOPUP_BENCH_HISTORY_ROUNDS="1",
        AITOPUP_BENCH_HISTORY_GETS="3",
    )
    loaded = re.search(r"^history: [\d,]+ rows in \d+ s (\{.*\})$", report, re.M)
    assert loaded is not None, report
    counts = json.loads(loaded.group(1))
    for table in ("topups", "ledger_entries", "events", "webhook_deliveries", "webhook_attempts"):
        assert counts[table] > 0, counts
    assert counts["ledger_entries"] == 2 * counts["topups"], counts
    assert 2_900 <= sum(counts.values()) <= 3_600, counts
    for figure in (
        "send req/s",
        "deliveries/s",
        "topups: deep page ms",
        "deliveries: deep page ms",
        "transactions: deep page ms",  # by cursor, as a client walks the ledger
        "transactions: deep page by offset ms",
        "recipients: deep page ms",
        "keys: first page ms",
    ):
        row = re.search(rf"^history 0\.00M rows: .*{re.escape(figure)} +([\d,.]+) ", report, re.M)
        assert row is not None, f"{figure} missing:\n{report}"
        assert float(row.group(1).replace(",", "")) > 0, report


def test_a_run_measures_the_lists_it_names_or_every_one() -> None:
    assert measured_lists("") == LISTS
    assert measured_lists(" recipients, topups ") == [
        ("recipients", "/recipients"),
        ("topups", "/topup"),
    ]
    with pytest.raises(ValueError, match="no such list: nope"):
        measured_lists("recipients,nope")
