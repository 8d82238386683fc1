"""``make run`` starts again a process that exits, within a bound."""

import subprocess
import sys

import pytest

from gateway.devrun import RESTARTS_PER_MINUTE, Supervised, _supervise


def test_an_exiting_process_is_restarted_until_the_bound(
    capsys: pytest.CaptureFixture[str],
) -> None:
    starts: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
        starts.append(proc)
        return proc

    worker = Supervised("worker", start)
    _supervise([worker], poll=0.01)  # returns once the bound is reached
    assert len(starts) == 1 + RESTARTS_PER_MINUTE
    lines = capsys.readouterr().err.splitlines()
    first = f"the worker exited (code 3); restarting (1 of {RESTARTS_PER_MINUTE} this minute)"
    assert lines[0] == f"aitopup run: {first}"
    assert lines[-1].endswith("restarts within a minute; stopping")
    assert len(lines) == 1 + RESTARTS_PER_MINUTE


def test_restarts_older_than_a_minute_do_not_count() -> None:
    calls = 0

    def start() -> subprocess.Popen[bytes]:
        nonlocal calls
        calls += 1
        return subprocess.Popen([sys.executable, "-c", "pass"])

    worker = Supervised("gateway", start)
    for minute in range(3):
        for _ in range(RESTARTS_PER_MINUTE):
            worker.proc.wait()
            assert worker.restart(1, now=minute * 61.0)
        assert not worker.restart(1, now=minute * 61.0 + 1)
    worker.proc.wait()
    assert calls == 1 + 3 * RESTARTS_PER_MINUTE
