"""``make soak``, short: two gateways behind nginx and two workers under every fault, on a
PostgreSQL cluster of its own (through a PgBouncer of its own where one is installed); nothing
lost, nothing debited twice, every sum holds. On the one store the soak needs: PostgreSQL's is
the deployment of several gateways, and its faults are SQLite's and PostgreSQL's own (SQLite's
short soak, one gateway and one worker without the store's fault, is ``make soak`` with
``AITOPUP_SOAK_STORE=sqlite``). The full-length run is ``make soak`` (docs/performance.md)."""

import os
from pathlib import Path

import pytest

from bench.soak import find_nginx, main
from tests.fixtures.benches import run_tree
from tests.fixtures.pgbouncer import pgbouncer_binary
from tests.fixtures.postgres import candidate_binaries

# Each starts gateways, workers and a cluster of its own (or SQLite), none of them on the shared
# server: each a unit of its own (``--dist loadgroup``), started early.
pytestmark = pytest.mark.slow

NGINX = find_nginx()

# The faults come every SECONDS / (faults + 1), 4 s, each over (a gateway killed listens again
# within about 2.5 s) before the next, sends on either side of it.
SHORT = {
    "AITOPUP_SOAK_STORE": "postgres",
    "AITOPUP_SOAK_GATEWAYS": "2",
    "AITOPUP_SOAK_WORKERS": "2",
    "AITOPUP_SOAK_SECONDS": "20",
    "AITOPUP_SOAK_PG_STOP_SECONDS": "5",
}
# Where PgBouncer is installed (CI installs it), the PostgreSQL soak runs every connection
# through one in transaction mode, the statement cache off, the worker as a role carrying its
# planner settings, PostgreSQL stopped behind the pooler, which stays up: the deployment
# docs/operations.md gives, and the harder of the two. ``make soak`` runs either.
POOLED = {"AITOPUP_SOAK_POOLER": "pgbouncer"}


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed: apt-get install nginx-light")
def test_a_short_soak_loses_nothing() -> None:
    if not candidate_binaries():
        pytest.skip("no initdb/postgres for a cluster of the soak's own")
    pooled = pgbouncer_binary() is not None
    env = {
        **os.environ,
        "AITOPUP_SOAK_RATE": "5",
        "AITOPUP_SOAK_DRAIN_SECONDS": "60",
        **SHORT,
        **(POOLED if pooled else {}),
    }
    status, report = run_tree(["-m", "bench.soak"], env, timeout=240)
    assert status == 0, report
    assert "lost 0, duplicates" in report, report
    assert "fault redis" in report and "fault gateway" in report and "fault worker" in report
    assert "fault postgres" in report, report
    if pooled:
        assert "soak: postgres through pgbouncer" in report, report


def test_without_nginx_the_soak_says_what_to_install_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The soak is pointed at an nginx that is not there, whatever this machine has installed.
    # Its main() in this process: ``python -m bench.soak`` exits with what it returns (the runs
    # above exit 0 through it), and a process of its own would import the gateway again.
    monkeypatch.setenv("AITOPUP_SOAK_NGINX", str(tmp_path / "no-nginx"))
    status = main()
    done = capsys.readouterr()
    said = done.err.strip().splitlines()
    assert status != 0
    assert done.out == ""
    assert len(said) == 1, done.err
    assert "nginx" in said[0] and "apt-get install -y nginx-light" in said[0]
