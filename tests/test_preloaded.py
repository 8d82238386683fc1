"""``tests.fixtures.preloaded``: a process forked from the tests' preloaded server is, to the
test that starts it, the process ``python -m`` would have started: its own arguments,
environment, folder, streams and exit status; the signals sent to it; gone when it is killed."""

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.fixtures.core import poll_until
from tests.fixtures.preloaded import python_m

ROOT = Path(__file__).resolve().parent.parent
PROBE = "tests.fixtures.echo_process"


def _env(**more: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **more}


def _start(mode: str, env: dict[str, str], cwd: Path) -> "subprocess.Popen[str]":
    return subprocess.Popen(
        [*python_m(PROBE), mode], env=env, cwd=cwd, stdout=subprocess.PIPE, text=True
    )


def test_a_fork_has_its_own_arguments_environment_folder_streams_and_status(
    tmp_path: Path,
) -> None:
    ran = subprocess.run(
        [*python_m(PROBE), "exit", "7"],
        env=_env(ECHO="from the test"),
        cwd=tmp_path,
        input="read on stdin",
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = json.loads(ran.stdout)
    assert ran.returncode == 7, ran.stderr
    assert said["argv"] == ["exit", "7"]
    assert said["cwd"] == str(tmp_path)
    assert said["echo"] == "from the test"
    assert said["stdin"] == "read on stdin"


def test_a_signal_sent_reaches_the_fork_and_the_launcher_ends_as_it_does(tmp_path: Path) -> None:
    with _start("wait", _env(), tmp_path) as proc:
        assert proc.stdout is not None
        fork = json.loads(proc.stdout.readline())["pid"]
        assert fork != proc.pid  # a fork of the server, not a Python started anew
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 3
    with _start("die", _env(), tmp_path) as proc:
        assert proc.wait(60) == -signal.SIGKILL


def test_a_killed_launcher_takes_its_fork_with_it(tmp_path: Path) -> None:
    with _start("wait", _env(), tmp_path) as proc:
        assert proc.stdout is not None
        fork = json.loads(proc.stdout.readline())["pid"]
        proc.kill()
        proc.wait(60)

    def gone() -> bool:
        try:
            os.kill(fork, 0)
        except ProcessLookupError:
            return True
        return False

    poll_until(gone, within=30, interval=0.05)


def test_an_environment_that_would_import_otherwise_runs_python_itself(tmp_path: Path) -> None:
    """A seed of its own for str hashes, or another folder of modules before this checkout's:
    the launcher becomes ``python -m`` itself, in that environment."""
    for env in (_env(PYTHONHASHSEED="0"), _env(PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")):
        with _start("wait", env, tmp_path) as proc:
            assert proc.stdout is not None
            assert json.loads(proc.stdout.readline())["pid"] == proc.pid  # itself, not a fork
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 3
