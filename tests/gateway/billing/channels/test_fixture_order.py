"""The tests that share the payment channels pass in any order: Epay's flow (its channels set
for each test) beside tests with an admin client (whose channels are put back as they found
them, ``tests.fixtures.billing.channels_kept``), run in a process of their own reversed and
shuffled (``tests.fixtures.reorder``). On SQLite: the fixtures, not the store, are the subject."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
SHARING = [
    "tests/gateway/billing/channels/test_epay_flow.py",
    "tests/gateway/api/test_admin_channels.py",
]
# Reversed, and a shuffle that puts the admin client's test between two of Epay's.
ORDERS = ["reversed", "1"]
WITHIN = 58  # seconds: both orders run at once


def _run(order: str, env: dict[str, str]) -> "subprocess.Popen[str]":
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    command += ["-p", "tests.fixtures.reorder", f"--test-order={order}", "-k", "not postgres"]
    return subprocess.Popen(
        [*command, *SHARING],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_channels_tests_pass_reversed_and_shuffled() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    runs = {order: _run(order, env) for order in ORDERS}
    try:
        said = {order: run.communicate(timeout=WITHIN)[0] for order, run in runs.items()}
    finally:
        for run in runs.values():
            run.kill()
    for order, run in runs.items():
        assert run.returncode == 0, f"{order}:\n{said[order][-3000:]}"
