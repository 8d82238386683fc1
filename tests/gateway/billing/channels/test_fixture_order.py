"""The tests that share the payment channels pass in any order: Epay's flow (its channels set
for each test) beside tests with an admin client (whose channels are put back as they found
them, ``tests.fixtures.billing.channels_kept``), run in a process of their own shuffled
(``tests.fixtures.reorder``). On SQLite: the fixtures, not the store, are the subject.

One shuffle proves what a second order did: it puts the admin client's test after Epay's and
before others of Epay's, so channels left set by either side are read by the other, and Epay's
own tests out of their file's order. The admin client's test before every one of Epay's is what
its file run alone (or a worker of the suite that runs it before them) does already; a second
process for it cost a whole pytest's start, most of this test's CPU."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
SHARING = [
    "tests/gateway/billing/channels/test_epay_flow.py",
    "tests/gateway/api/test_admin_channels.py",
]
# A shuffle that puts the admin client's test between two of Epay's (the sixth of eleven), and
# Epay's last test second.
ORDER = "1"
# Seconds: a guard against a hung run, inside pytest-timeout's 300; a pytest's start and these
# tests took 53 s alone on a two-core machine at a load average of 20.
WITHIN = 150


def _run(order: str, env: dict[str, str]) -> "subprocess.Popen[str]":
    command = [sys.executable, "-m", "pytest", "-v", "-x", "-p", "no:cacheprovider"]
    command += ["-p", "tests.fixtures.reorder", f"--test-order={order}", "-k", "not postgres"]
    return subprocess.Popen(
        [*command, *SHARING],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_channels_tests_pass_shuffled() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    run = _run(ORDER, env)
    try:
        said = run.communicate(timeout=WITHIN)[0]
    finally:
        run.kill()
    assert run.returncode == 0, said[-3000:]
    # The order the docstring counts on (``-v`` names each test as it passes): the admin
    # client's test between two of Epay's.
    ran = [line for line in said.splitlines() if "::test_" in line and "PASSED" in line]
    admin = [i for i, line in enumerate(ran) if line.startswith(SHARING[1])]
    assert len(admin) == 1 and 0 < admin[0] < len(ran) - 1, said[-3000:]
