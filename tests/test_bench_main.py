"""``make bench`` (``python -m bench``) always finishes: a suite that raises is a row that
missed its target, the suites after it still run, every row is printed, and the exit status
says a target was missed."""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import __main__ as bench
from tests.fixtures.benches import figures_of, run_bench

_RAISES = """
def run():
    raise RuntimeError("the store did not answer")
"""
_MEASURES = """
from bench.load import Result
from bench.report import Row, failures


def run():
    refused = Result(10, 1.0, [1.0] * 10, 3, seen={"503 9003": 3})
    return [Row("fine: req/s", 10, "req/s", "bare", 20, "-"), failures("fine", [refused])]
"""
_CLEAN = """
from bench.report import Row


def run():
    return [Row("clean: req/s", 10, "req/s", "bare", 20, "-")]
"""


_HOLDS_A_SERVER = """
import contextlib
import os
import pathlib
import time


@contextlib.contextmanager
def server():
    try:
        yield
    finally:
        pathlib.Path(os.environ["MARKER"]).write_text("put away")


def run():
    with server():
        print("held", flush=True)
        time.sleep(60)  # the run is stopped here
    return []
"""


@pytest.fixture
def suites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name, text in (("raises", _RAISES), ("measures", _MEASURES), ("clean", _CLEAN)):
        (tmp_path / f"bench_suite_{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("raises", "measures", "clean"):
        sys.modules.pop(f"bench_suite_{name}", None)


def test_a_suite_that_raises_is_a_row_and_the_rest_still_run(
    suites: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = bench.main(["bench_suite_raises", "bench_suite_measures", "bench_suite_clean"])
    out = capsys.readouterr()
    assert status == 1
    assert "RuntimeError: the store did not answer" in out.err  # its traceback
    assert "bench_suite_raises: did not finish" in out.out
    assert "fine: req/s" in out.out and "clean: req/s" in out.out
    [failed] = [line for line in out.out.splitlines() if line.startswith("fine: requests failed")]
    assert "3.0 req" in failed and "MISSED 0 (seen: 503 9003 x3)" in failed


def test_a_run_every_target_of_which_is_met_exits_0(
    suites: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["bench_suite_clean"]) == 0
    assert "clean: req/s" in capsys.readouterr().out


def test_a_run_stopped_by_sigterm_puts_its_servers_away(tmp_path: Path) -> None:
    """``timeout`` and supervisors stop with SIGTERM: the suite under way unwinds as an
    interrupted one does (its servers, databases and roles put away), the figures of the suites
    before it are printed, and the run exits 143."""
    (tmp_path / "bench_suite_serving.py").write_text(_HOLDS_A_SERVER)
    (tmp_path / "bench_suite_clean.py").write_text(_CLEAN)
    marker = tmp_path / "marker"
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)]),
        "AITOPUP_BENCH_SUITES": "bench_suite_clean,bench_suite_serving",
        "MARKER": str(marker),
    }
    with subprocess.Popen(
        [sys.executable, "-m", "bench"], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        while proc.stdout.readline().strip() != "held":
            assert proc.poll() is None, "the suite ended before it served"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        said = proc.stdout.read()
    assert marker.read_text() == "put away"
    # The suite that finished before the stop keeps its figure; the stopped one is a row.
    assert "clean: req/s" in said, said
    assert "bench_suite_serving: did not finish" in said and "the run was stopped" in said, said


# Gateways and stand-ins started in turn, as make bench starts them, on SQLite alone: what this
# proves is that each suite's own code runs to its figures, and a store is a server the suites
# share (``bench.servers``), which the send's and the statement cache's tiny runs take through
# PostgreSQL. On no shared server, it runs beside the benches that use one.
@pytest.mark.timeout(900)
@pytest.mark.slow
def test_the_suites_without_a_tiny_test_of_their_own_finish_as_make_bench_runs_them(
    postgres_server: str,
) -> None:
    """``python -m bench`` over the suites no other test runs, at a tiny size: it exits 0,
    every figure printed and no request failed. One round of each pair (the policy's and the
    MCP send's): a round runs every loop a row is made of, and the median of one pair is that
    pair, so a loop that failed or a row not printed fails here as at five rounds."""
    suites = ("bench.policy", "bench.approval", "bench.mcp", "bench.fulfilment")
    report = run_bench(
        "bench",
        postgres_server,
        timeout=860,
        AITOPUP_BENCH_SUITES=",".join(suites),
        AITOPUP_BENCH_STORES="sqlite",
        AITOPUP_BENCH_POLICY_ROUNDS="1",
        AITOPUP_BENCH_SEND_ROUNDS="1",
    )
    assert "did not finish" not in report and "MISSED" not in report, report
    for figure, baseline in (
        ("send sqlite: req/s, key with a full policy", "key with no policy"),
        ("approve sqlite: approvals/s at 32 clients", "held sends"),
        ("send sqlite via MCP: req/s at 32 clients", "same send via REST"),
        ("send sqlite through newapi: req/s", "newapi stand-in bare"),
        ("send sqlite through openrouter: req/s", "openrouter stand-in bare"),
    ):
        figures_of(report, figure, baseline)
    failed = re.findall(r"^.*: requests failed +([\d,.]+) req", report, re.M)
    assert len(failed) == 5 and {float(n) for n in failed} == {0.0}, report
