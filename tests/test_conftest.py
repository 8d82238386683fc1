"""The stores' rule of ``tests/conftest.py``: a door's or a process's test runs on SQLite alone,
one of theirs marked ``both_stores`` on both, a store's test on both, as ``make test`` collects
them."""

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.lanes import lane_of

ROOT = Path(__file__).resolve().parent.parent

DOOR = "tests/gateway/api/test_keys.py::test_a_key_may_revoke_itself"
MARKED = "tests/gateway/api/test_keys.py::test_concurrent_patches_of_different_fields_all_hold"
PROCESS = "tests/gateway/test_cli.py::test_create_list_revoke"
STORE = "tests/gateway/store/test_db.py::test_a_connection_left_in_a_transaction_is_never_reused"


def test_a_door_runs_once_a_marked_one_and_a_store_test_twice() -> None:
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", DOOR, MARKED, PROCESS, STORE]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
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
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    passed = {
        line.split(" ", 1)[1] for line in ran.stdout.splitlines() if line.startswith("PASSED")
    }
    lane = lane_of(STORE.split("::", 1)[0])
    assert passed == {f"{STORE}[postgres]@{lane}"}, ran.stdout  # its SQLite run skips
