"""``make soak``, short: two gateways behind nginx and two workers under every fault, on a
PostgreSQL cluster of its own (directly, and at scale through a PgBouncer of its own where one
is installed); nothing lost, nothing debited twice, every sum holds. On the one store the soak
needs: PostgreSQL's is the deployment of several gateways, and its faults are SQLite's and
PostgreSQL's own (SQLite's short soak, one gateway and one worker without the store's fault, is
``make soak`` with ``AITOPUP_SOAK_STORE=sqlite``). The full-length run is ``make soak``
(docs/performance.md)."""

import os
import re
from pathlib import Path

import pytest

from bench.soak import find_nginx, main
from tests.fixtures.benches import BOUNDED, run_tree
from tests.fixtures.pgbouncer import pgbouncer_binary
from tests.fixtures.postgres import candidate_binaries

# Each starts gateways, workers and a cluster of its own (or SQLite), none of them on the shared
# server: each a unit of its own (``--dist loadgroup``), started early.
pytestmark = [pytest.mark.slow, BOUNDED]

NGINX = find_nginx()

# The faults come every SECONDS / (faults + 1), 3.2 s, each over (a gateway killed listens again
# within about 2.5 s) before the next, sends on either side of it: the shortest run that puts
# every fault in, one after the other.
SHORT = {
    "AITOPUP_SOAK_STORE": "postgres",
    "AITOPUP_SOAK_GATEWAYS": "2",
    "AITOPUP_SOAK_WORKERS": "2",
    "AITOPUP_SOAK_SECONDS": "16",
    "AITOPUP_SOAK_PG_STOP_SECONDS": "5",
    "AITOPUP_SOAK_RATE": "5",
    "AITOPUP_SOAK_DRAIN_SECONDS": "60",
    # Each event fanned out to two endpoints, each delivery counted on its own.
    "AITOPUP_SOAK_ENDPOINTS": "2",
    # The p99s are printed beside their budgets, not judged: this run shares the machine with
    # the rest of the suite, and a budget is judged on a quiet one (`make soak`, docs).
    "AITOPUP_SOAK_JUDGE_LATENCY": "false",
    # No warm-up left out: the faults come 3.2 s apart, and a warm-up after each would leave no
    # send outside the windows to read the latencies of.
    "AITOPUP_SOAK_WARMUP_SECONDS": "0",
}
# Where PgBouncer is installed (CI installs it), the soak at scale runs every connection through
# one in transaction mode, the statement cache off, the worker as a role carrying its planner
# settings, PostgreSQL stopped behind the pooler, which stays up: the deployment
# docs/operations.md gives, and the harder of the two. The short soak runs directly, as
# ``make soak`` does by default: each route under every fault once.
POOLED = {"AITOPUP_SOAK_POOLER": "pgbouncer"}


def _every_fault_in(report: str) -> None:
    assert "lost 0, duplicates" in report, report  # a worker killed mid-send sends again
    for fault in ("worker", "gateway", "redis", "postgres"):
        assert f"fault {fault}" in report, report
    # The processes' PostgreSQL connections were counted all along and held to the documented
    # bound (past it the soak exits non-zero); each event's commit to receipt is a figure.
    held = re.search(
        r"PostgreSQL connections: at most (\d+) at once \((\d+) samples\), bound (\d+)", report
    )
    assert held is not None and 0 < int(held[1]) <= int(held[3]) and int(held[2]) > 10, report
    assert re.search(r"deliveries \d+ to 2 endpoints, distinct deliveries received", report), report
    # The sends judged as the proxy timed them; the client's own readings printed beside.
    for judged in ("send latency at the proxy", "send latency at the client", "event to receipt"):
        windows = "outside the warm-up and fault windows"
        line = rf"{judged} {windows}: n=[1-9]\d* p50 .* \(budget p99 \d+ ms\)"
        assert re.search(line, report), report


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed: apt-get install nginx-light")
def test_a_short_soak_loses_nothing() -> None:
    """Two gateways and two workers on PostgreSQL directly, under every fault: nothing lost,
    nothing debited twice (the soak exits non-zero on either), each fault reported."""
    if not candidate_binaries():
        pytest.skip("no initdb/postgres for a cluster of the soak's own")
    env = {**os.environ, **SHORT, "AITOPUP_SOAK_POOLER": "none"}
    status, report = run_tree(["-m", "bench.soak"], env)
    assert status == 0, report
    _every_fault_in(report)
    assert "through pgbouncer" not in report, report


# The history of ten million deliveries a day, at a twenty-thousandth (500 deliveries a
# compressed day, 50 events of which 5 are the shorter retention's merchant's), five compressed
# weeks in the run's 20 s: enough for weeks to be dropped and the history to stay flat after.
# What is checked is counted in weeks and days (partitions dropped whole, the days kept whole,
# the shorter retention's days gone), each day holding rows of both merchants at any rate: half
# of 1,000 a day fails as surely where a week is dropped short or a kept day deleted, in half
# the writes, which a loaded machine falls behind on less.
AT_SCALE = {
    "AITOPUP_SOAK_SECONDS": "20",
    "AITOPUP_SOAK_SCALE": "0.00005",
    "AITOPUP_SOAK_WEEKS": "5",
}


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed: apt-get install nginx-light")
def test_a_soak_at_scale_drops_the_history_s_weeks_whole_and_loses_nothing() -> None:
    """Under every fault, with the history written and retention run at each compressed day:
    the live sends' checks hold, weeks of history are dropped (every table's partition of each),
    none of the longest retention's rows deleted row by row, only the shorter one's, and the
    history's size flat after the first drop; through PgBouncer where it is installed.

    Once, on the stricter route: what the history's jobs and the sends do through a pooler in
    transaction mode (no session state kept between transactions, no statement cache) they do
    on a direct connection too, so the direct run at scale proved nothing the pooled one does
    not; the direct route under every fault is the short soak's, and the retention jobs on a
    direct connection are tests/worker/test_retention.py's and tests/gateway/store/'s."""
    if not candidate_binaries():
        pytest.skip("no initdb/postgres for a cluster of the soak's own")
    pooled = pgbouncer_binary() is not None
    env = {**os.environ, **SHORT, **AT_SCALE, **(POOLED if pooled else {})}
    status, report = run_tree(["-m", "bench.soak"], env)
    assert status == 0, report
    _every_fault_in(report)
    dropped = re.search(r"partitions made (\d+), dropped (\d+) \((\d+) weeks of 4", report)
    assert dropped is not None, report
    made, partitions, weeks = (int(n) for n in dropped.groups())
    assert weeks >= 2 and partitions == 4 * weeks and made >= partitions, report
    deleted = re.search(r"of the longest retention's weeks kept (\d+) deleted; the shorter", report)
    assert deleted is not None and deleted[1] == "0", report
    gone = re.search(
        r"the shorter retention's rows gone ([\d,]+) \(left past its horizon 0\)", report
    )
    assert gone is not None and int(gone[1].replace(",", "")) > 0, report
    sizes = re.search(r"at each week's end \[([\d, ]+)\], the first drop in week (\d+)", report)
    assert sizes is not None, report
    weekly = [int(n) for n in sizes[1].split(", ")]
    settled = weekly[int(sizes[2]) :]
    # Flat, and below what a week more each week would be.
    assert settled and len(set(settled)) == 1 and settled[0] < weekly[0] * len(weekly), report
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
