"""``bench/payment_loop.py``, the payment ``make bench`` counts the instructions of, run at a tiny
size without valgrind (which takes minutes to start it): it speaks ``bench.send_loop``'s
protocol, and between its marks pays each of its COUNT staging MPP challenges once, every one
authorized, nothing refused."""

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import payments
from bench.send_loop import WARM_UP
from bench.topup import _gateway_env
from gateway.store.migrate import upgrade
from gateway.store.models import SellerPayment, table_of
from tests.fixtures.benches import BOUNDED, ROOT, figures_of, go_on, run_bench, said, statuses

# It starts a gateway of its own: one at a time (``--dist loadgroup``), as the other benches.
pytestmark = pytest.mark.xdist_group("processes")

COUNT = 3
_P = table_of(SellerPayment)


def test_the_payment_loop_pays_its_count_between_the_marks(tmp_path: Path, redis_url: str) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}"
    upgrade(database_url)
    paying = asyncio.run(payments.prepare(database_url))
    env = {
        **os.environ,
        **_gateway_env(database_url, redis_url, payments.PAYING_ENV),
        "BENCH_KEY": paying.key,
        "BENCH_SELLER": paying.seller_id,
        "AITOPUP_LOG_LEVEL": "WARNING",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "bench.payment_loop", str(COUNT)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            said(proc, "ready")
            assert asyncio.run(statuses(database_url, _P)) == {"authorized": WARM_UP}
            go_on(proc)
            said(proc, "done")
            assert asyncio.run(statuses(database_url, _P)) == {"authorized": WARM_UP + COUNT}
            go_on(proc)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def _failed(report: str, figure: str) -> tuple[float, float, str]:
    """The row of ``report`` counting ``figure``'s failed requests: (failed, measured, its
    target with what the failed ones answered)."""
    row = re.search(
        rf"^{re.escape(figure)}: requests failed +([\d,.]+) req +requests ([\d,.]+) +\S+ +(.*)$",
        report,
        re.M,
    )
    assert row is not None, f"{figure}'s failures missing:\n{report}"
    return float(row.group(1).replace(",", "")), float(row.group(2).replace(",", "")), row[3]


# On PostgreSQL alone: the merchant's limit is counted in Redis (``gateway.merchant_limits``),
# whichever the store, and SQLite's payments are paid by the refusal's run below (its first 50)
# and by the payment loop above.
@BOUNDED
def test_the_payments_bench_pays_past_a_merchants_limit(postgres_server: str) -> None:
    """The loop pays more than the default limit lets a merchant pay in a minute (120): the
    bench's gateway runs under a limit set for it, and the default is a figure beside the rate
    the gateway paid at."""
    report = run_bench(
        "bench.payments",
        postgres_server,
        AITOPUP_BENCH_SEND_ROUNDS="1",
        AITOPUP_BENCH_STORES="postgres",
    )
    assert "payment sqlite" not in report, report
    failed, measured, _ = _failed(report, "payment postgres: payments")
    assert failed == 0 and measured > 120, report
    assert _failed(report, "payment postgres: sends beside")[0] == 0, report
    limit, paid_a_minute = figures_of(
        report, "payment postgres: a merchant's payments a minute", "gateway's payments/s x 60"
    )
    assert limit == 120 and paid_a_minute > limit, report


@BOUNDED
def test_a_payment_the_gateway_refuses_is_a_figure_of_the_run(postgres_server: str) -> None:
    """Under a limit of 50 a minute the 51st payment is refused (429 2208): the run still
    finishes, with every figure, the refusals counted beside a target of 0."""
    report = run_bench(
        "bench.payments",
        postgres_server,
        AITOPUP_BENCH_SEND_ROUNDS="1",
        AITOPUP_BENCH_STORES="sqlite",
        AITOPUP_BENCH_PAYMENT_LIMIT="50",
    )
    assert "Traceback" not in report
    failed, measured, target = _failed(report, "payment sqlite: payments")
    assert measured > 120 and failed >= measured - 50, report
    assert f"MISSED 0 (seen: 429 2208 x{failed:.0f})" == target.strip(), report
    figures_of(report, "payment sqlite: payments/s at 32 clients", "sends/s")
