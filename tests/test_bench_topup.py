"""``bench/topup.py`` at a tiny size on a machine without ``wrk``, as a newcomer's ``make bench``
runs it: the Python client drives the loops, every send is a real merchant's (an
``Idempotency-Key`` of its own, which the raw-asyncpg anchor reads) and every row is printed."""

import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.benches import BOUNDED, figures_of, run_bench

# It starts gateways of its own: one at a time (``--dist loadgroup``), as the other benches.
pytestmark = pytest.mark.xdist_group("processes")


def _path_without(program: str, folder: Path) -> str:
    """A ``PATH`` of one folder that links every program the current one finds but
    ``program``."""
    folder.mkdir()
    for entry in reversed(os.environ.get("PATH", "").split(os.pathsep)):
        if not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            found = os.path.join(entry, name)
            if name != program and os.access(found, os.X_OK) and not os.path.isdir(found):
                link = folder / name
                link.unlink(missing_ok=True)  # the earlier folder's wins, as PATH's does
                link.symlink_to(found)
    return str(folder)


# The PostgreSQL half alone (it runs every client the bench has): gateways and anchors started in
# turn, each import a few seconds on a busy machine.
@BOUNDED
def test_the_send_benchmark_runs_without_wrk(postgres_server: str, tmp_path: Path) -> None:
    path = _path_without("wrk", tmp_path / "bin")
    assert shutil.which("wrk", path=path) is None
    report = run_bench(
        "bench.topup",
        postgres_server,
        PATH=path,
        AITOPUP_BENCH_OPEN_SECONDS="0.5",
        AITOPUP_BENCH_SEND_ROUNDS="1",
        AITOPUP_BENCH_OPEN_RUNS="1",
        AITOPUP_BENCH_OBSERVED_ROUNDS="1",
        AITOPUP_BENCH_STORES="postgres",
    )
    assert "wrk is not installed" in report
    assert "Traceback" not in report and "KeyError" not in report
    figures_of(report, "send postgres: req/s at 32 clients", "bare starlette")
    figures_of(report, "send postgres: req/s at 32 clients", "its transaction on raw asyncpg")
