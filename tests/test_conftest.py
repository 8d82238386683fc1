"""The stores' rule of ``tests/conftest.py``: a door's or a process's test runs on SQLite alone,
one of theirs marked ``both_stores`` on both, a store's test on both, as ``make test`` collects
them."""

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.lanes import POSTGRES_LANES, lanes_of, measured

ROOT = Path(__file__).resolve().parent.parent

DOOR = "tests/gateway/api/test_keys.py::test_a_key_may_revoke_itself"
MARKED = "tests/gateway/api/test_keys.py::test_concurrent_patches_of_different_fields_all_hold"
PROCESS = "tests/gateway/test_cli.py::test_create_list_revoke"
STORE = "tests/gateway/store/test_db.py::test_a_connection_left_in_a_transaction_is_never_reused"


def _pytest(*args: str) -> "subprocess.CompletedProcess[str]":
    """A pytest session of this checkout's, as ``make test`` runs one. Its own processes start
    and collect as the run's do: minutes on two cores busy with other work, within the test's
    own timeout (pyproject.toml)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def test_a_door_runs_once_a_marked_one_and_a_store_test_twice() -> None:
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", DOOR, MARKED, PROCESS, STORE]
    collected = _pytest(*args)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = {line for line in collected.stdout.splitlines() if "::" in line}
    assert ids == {
        f"{DOOR}[sqlite]",
        f"{MARKED}[sqlite]",
        f"{MARKED}[postgres]",
        f"{PROCESS}[sqlite]",
        f"{STORE}[sqlite]",
        f"{STORE}[postgres]",
    }
    assert "(2 deselected)" in collected.stdout


def test_a_postgres_test_runs_in_its_lane_under_xdist() -> None:
    """The PostgreSQL half keeps to ``POSTGRES_LANES`` processes only while pytest-xdist can add
    each test's group to its id (pytest 9.2 broke that silently): run through xdist, the store
    test's PostgreSQL run reports its lane."""
    args = ["-n", "1", "--dist", "loadgroup", "-q", "-rA", "-p", "no:cacheprovider", STORE]
    ran = _pytest(*args)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    passed = {
        line.split(" ", 1)[1] for line in ran.stdout.splitlines() if line.startswith("PASSED")
    }
    assert passed == {f"{STORE}[postgres]@postgres-0"}, ran.stdout  # its SQLite run skips


def test_the_lanes_are_as_even_as_whole_modules_allow() -> None:
    tests = ["a"] * 50 + ["b"] * 30 + ["c"] * 30 + ["d"] * 20 + ["e"] * 10
    lanes = lanes_of(tests)
    loads = {f"postgres-{n}": 0 for n in range(POSTGRES_LANES)}
    for module in tests:
        loads[lanes[module]] += 1
    assert sorted(loads.values()) == [70, 70]
    assert lanes_of(reversed(tests)) == lanes  # the same whichever order they were collected


def test_the_lanes_are_weighed_by_the_seconds_measured() -> None:
    # By count "a" and "b" (40 tests each) would go apart, "slow" (10) beside one of them; by
    # time "slow" (80 s) is a lane alone, as long as the two others together.
    tests = ["slow"] * 10 + ["a"] * 40 + ["b"] * 40
    lanes = lanes_of(tests, {"slow": 8.0, "a": 1.0, "b": 1.0})
    assert lanes["slow"] != lanes["a"] == lanes["b"]
    # A module no run measured weighs the median of those measured: 2.5 s a test here.
    measured = {"a": 1.0, "b": 1.0, "c": 4.0, "d": 4.0}
    lanes = lanes_of(["new"] * 20 + ["a"] * 30 + ["b"] * 30, measured)
    assert lanes["new"] != lanes["a"] == lanes["b"]


def test_a_runs_junit_report_gives_each_modules_seconds_a_postgres_test(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.worker.test_store" name="test_a[postgres]@postgres-0"'
        ' time="3.0" />'
        '<testcase classname="tests.worker.test_store" name="test_b[postgres-5]@postgres-0"'
        ' time="1.0" />'
        '<testcase classname="tests.worker.test_store" name="test_a[sqlite]" time="9.0" />'
        '<testcase classname="tests.gateway.test_x.TestY" name="test_c[postgres]@postgres-1"'
        ' time="0.44" />'
        "</testsuite></testsuites>"
    )
    assert measured(report) == {"tests/gateway/test_x.py": 0.4, "tests/worker/test_store.py": 2.0}


# Two processes: one dies in a test once the other is inside its first, which would take a
# minute; the run stops then, and none of the other's next 199 tests runs.
_CRASHING = """
import os
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _within(seconds: float, done: str) -> None:
    deadline = time.monotonic() + seconds
    while not (HERE / done).exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # this poll's interval, bounded by the deadline


@pytest.mark.xdist_group("dies")
def test_dies() -> None:
    _within(60, "ran-0")
    os._exit(3)


@pytest.mark.xdist_group("goes_on")
@pytest.mark.parametrize("n", range(200))
def test_goes_on(n: int) -> None:
    (HERE / f"ran-{n}").touch()
    if n == 0:
        _within(60, "never")
"""


def test_a_crashed_worker_ends_the_run_at_once(tmp_path: Path) -> None:
    """A process that dies fails the run, which names the test it died in and stops: the other
    process, in the middle of a test, runs none of the tests it was sent after it."""
    (tmp_path / "test_crashing.py").write_text(_CRASHING)
    args = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-n", "2"]
    args += ["--dist", "loadgroup", "-p", "tests.fixtures.crashes", "-p", "no:cacheprovider"]
    ran = _pytest(*args, str(tmp_path))
    said = ran.stdout + ran.stderr
    assert ran.returncode == 1, said
    assert "crashed while running 'test_crashing.py::test_dies" in said, said
    assert "the run stops" in said, said
    assert [p.name for p in tmp_path.glob("ran-*")] == ["ran-0"], said
