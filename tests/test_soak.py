"""``make soak``, short: gateways behind nginx and workers under every fault that applies, on
SQLite (one of each) and on a PostgreSQL cluster of its own (two of each); nothing lost, nothing
debited twice, every sum holds. The full-length run is ``make soak`` (docs/performance.md)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.postgres import candidate_binaries

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
)

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
