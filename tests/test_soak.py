"""``make soak``, short: gateways behind nginx and workers under every fault that applies, on
SQLite (one of each) and on a PostgreSQL cluster of its own (two of each); nothing lost, nothing
debited twice, every sum holds. The full-length run is ``make soak`` (docs/performance.md)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.soak import find_nginx
from tests.fixtures.postgres import candidate_binaries

# Each starts gateways, workers and clusters of its own: run one at a time, on one of the run's
# workers (``--dist loadgroup``), so that they never hold the server's connections together.
pytestmark = pytest.mark.xdist_group("processes")

ROOT = Path(__file__).resolve().parent.parent
NGINX = find_nginx()

SHORT = {
    "sqlite": {
        "AITOPUP_SOAK_GATEWAYS": "1",
        "AITOPUP_SOAK_WORKERS": "1",
        "AITOPUP_SOAK_SECONDS": "20",
    },
    "postgres": {
        "AITOPUP_SOAK_GATEWAYS": "2",
        "AITOPUP_SOAK_WORKERS": "2",
        "AITOPUP_SOAK_SECONDS": "30",
        "AITOPUP_SOAK_PG_STOP_SECONDS": "5",
    },
}


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed: apt-get install nginx-light")
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_short_soak_loses_nothing(store: str) -> None:
    if store == "postgres" and not candidate_binaries():
        pytest.skip("no initdb/postgres for a cluster of the soak's own")
    env = {
        **os.environ,
        "AITOPUP_SOAK_STORE": store,
        "AITOPUP_SOAK_RATE": "5",
        "AITOPUP_SOAK_DRAIN_SECONDS": "60",
        **SHORT[store],
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "lost 0, duplicates" in report, report
    assert "fault redis" in report and "fault gateway" in report and "fault worker" in report
    if store == "postgres":
        assert "fault postgres" in report, report


def test_without_nginx_the_soak_says_what_to_install_in_one_line(tmp_path: Path) -> None:
    # The soak is pointed at an nginx that is not there, whatever this machine has installed.
    env = {**os.environ, "AITOPUP_SOAK_NGINX": str(tmp_path / "no-nginx")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    said = done.stderr.strip().splitlines()
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    assert len(said) == 1, done.stderr
    assert "nginx" in said[0] and "apt-get install -y nginx-light" in said[0]
