"""Instructions per send and per delivery, counted by callgrind: figures the machine's load does
not move.

A rate measured on a shared two-core machine moves with whatever else runs; the instructions a
request executes do not. ``bench.send_loop`` serves requests in one process run under
``valgrind --tool=callgrind``: once it has warmed up, the counters are zeroed
(``callgrind_control -z``), COUNT requests are served, and the counters are dumped
(``callgrind_control -d``). The dump's total, divided by COUNT, is one request's instructions.

The send is a real merchant's: a webhook endpoint subscribed (each send writes its delivery and
wakes the worker for it) and an ``Idempotency-Key`` on every request. The baseline is bare
Starlette's JSON route, counted the same way in the same run. Report the figure before and
after every change to the hot path: a change that costs instructions shows here whatever the
machine is doing. A delivery (``bench.delivery_loop``) is counted in one worker process, beside a
bare aiohttp loop signing and POSTing the same events to the same receiver. A payment to a
seller (``bench.payment_loop``: a staging MPP challenge of the same gateway, paid from a payer's
wallet with a token minted in process) is counted as the send is, in the send's store, beside
the send's count of the same run.

Each count runs the interpreter under valgrind (about a minute for the imports alone); the
suite is skipped, saying so, where valgrind is not installed (``apt-get install valgrind``).

A counted process runs some fifty times slower than it would, slower still on a loaded machine,
so the gateway's counted processes give Redis a minute to answer (``AITOPUP_REDIS_ANSWER_SECONDS``)
where a served gateway gives it half a second: past that bound a call fails, and the count would
be of the failure's path (a warning, its traceback formatted), not of a send's. A count whose
process logged a warning (or worse) between its marks is refused, never printed as a figure.
For the same pace, the counted processes do their work by the clock (the keys' request counts
written to Redis, a lockout looked at again) once an hour, not once a second
(``PROFILED_CLOCK_SECONDS``): a second of a served gateway holds hundreds of sends, one of a
counted process two or three, and each of those carried a share of that work with its own.
"""

import asyncio
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from gateway.store.db import open_database
from gateway.store.migrate import upgrade
from keys import Sealer

from . import payments
from .deliveries import SEALING, _setup, worker_bench
from .report import Row
from .servers import DEFAULT_PG, postgres_available, postgres_database, redis_server
from .topup import _gateway_env, _prepare

__all__ = [
    "COUNT",
    "PROFILED_ANSWER_SECONDS",
    "count_between",
    "dumped_total",
    "run",
    "warnings_in",
]

COUNT = int(os.environ.get("AITOPUP_BENCH_INSTRUCTION_REQUESTS", "100"))
DELIVERIES = int(os.environ.get("AITOPUP_BENCH_INSTRUCTION_DELIVERIES", "200"))
# The longest a counted process may take to end after its last mark (a worker's stop, its
# store's check), under valgrind on a machine whose load leaves it a tenth of a core.
STOP_WITHIN = 900
VALGRIND = "valgrind"
CONTROL = "callgrind_control"


def dumped_total(text: str) -> int:
    """The instructions a callgrind dump counted: its ``summary:`` line (``totals:`` in older
    files)."""
    for prefix in ("summary:", "totals:"):
        for line in text.splitlines():
            if line.startswith(prefix):
                return int(line.split()[1])
    raise ValueError("no summary in the callgrind dump")


# A gateway's bound on a Redis answer in a counted process (``redis_client.ANSWER_WITHIN``).
PROFILED_ANSWER_SECONDS = 60
# The work a gateway does by the clock (its keys' request counts written, a lockout looked at
# again), once a second in a served one, where a second holds hundreds of sends: at callgrind's
# pace a second holds two or three, and the count was of that work as much as of theirs. A
# counted process does it once an hour, so what its count holds is what its requests do.
PROFILED_CLOCK_SECONDS = 3600
_PROFILED = {
    "AITOPUP_REDIS_ANSWER_SECONDS": str(PROFILED_ANSWER_SECONDS),
    "AITOPUP_KEY_REQUEST_COUNTS_FLUSH_SECONDS": str(PROFILED_CLOCK_SECONDS),
    "AITOPUP_LOCKOUT_RECHECK_SECONDS": str(PROFILED_CLOCK_SECONDS),
}
# The log levels (``ops.logs``'s JSON lines) of a path a healthy request does not take.
_FAILING_LEVELS = frozenset({"warning", "error", "critical"})


def _expect(stream: IO[str], word: str) -> list[str]:
    """Read on to ``word`` alone on a line; the lines before it (the app's log) are returned."""
    lines: list[str] = []
    while (line := stream.readline()) != "":
        if line.strip() == word:
            return lines
        lines.append(line)
    raise RuntimeError(f"the counted process ended before it said {word!r}")


def warnings_in(lines: list[str]) -> list[str]:
    """The messages of the log lines at warning or above: a Redis call past its bound, a store
    that failed, anything a healthy request does not do and a count must not hold."""
    found: list[str] = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # not a log line: the program's own output
        if isinstance(record, dict) and record.get("level") in _FAILING_LEVELS:
            found.append(f"{record.get('logger')}: {record.get('msg')}")
    return found


def _control(flag: str, pid: int) -> None:
    subprocess.run([CONTROL, flag, str(pid)], check=True, capture_output=True, timeout=120)


def count_between(argv: list[str], env: Mapping[str, str], folder: Path) -> int:
    """The instructions ``argv`` (a Python program speaking ``send_loop``'s protocol) executed
    between its ``ready`` and its ``done``."""
    out = folder / "callgrind.%p"
    with subprocess.Popen(
        [VALGRIND, "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            _expect(proc.stdout, "ready")
            _control("-z", proc.pid)
            proc.stdin.write("\n")
            proc.stdin.flush()
            logged = _expect(proc.stdout, "done")
            _control("-d", proc.pid)
            proc.stdin.write("\n")
            proc.stdin.close()
            # Its stop, under callgrind on a loaded machine, takes minutes: the dump is taken.
            proc.wait(timeout=STOP_WITHIN)
        finally:
            if proc.poll() is None:
                proc.kill()
    if proc.returncode != 0:  # its own check after the dump failed: the count is of nothing
        raise RuntimeError(f"the counted process ended with status {proc.returncode}")
    if warned := warnings_in(logged):
        raise RuntimeError(
            f"the counted process logged {len(warned)} warnings while counted, so the count is "
            f"of a failure's path, not a figure; the first: {warned[0]}"
        )
    dumps = sorted(glob.glob(f"{folder}/callgrind.{proc.pid}.*"))
    if len(dumps) != 1:
        raise RuntimeError(f"expected one dump of the requests, found {len(dumps)}")
    return dumped_total(Path(dumps[0]).read_text())


def _per_request(mode: str, env: Mapping[str, str], folder: Path) -> float:
    argv = [sys.executable, "-m", "bench.send_loop", mode, str(COUNT)]
    return count_between(argv, {**os.environ, **_PROFILED, **env}, folder) / COUNT


def _send_env(database_url: str, redis_url: str) -> dict[str, str]:
    upgrade(database_url)
    key = asyncio.run(_prepare(database_url, endpoint=True))
    return {**_gateway_env(database_url, redis_url, {}), "BENCH_KEY": key}


def _per_payment(database_url: str, redis_url: str, folder: Path) -> float:
    """A payment's instructions, its payer and seller made in the (migrated) store of the
    send's count."""
    paying = asyncio.run(payments.prepare(database_url))
    env = {
        **os.environ,
        **_PROFILED,
        **_gateway_env(database_url, redis_url, payments.PAYING_ENV),
        "BENCH_KEY": paying.key,
        "BENCH_SELLER": paying.seller_id,
    }
    argv = [sys.executable, "-m", "bench.payment_loop", str(COUNT)]
    return count_between(argv, env, folder) / COUNT


async def _merchant(database_url: str, url: str) -> tuple[str, bytes]:
    db = open_database(database_url, pool_size=1)
    try:
        return await _setup(db, Sealer(SEALING.encode()), url)
    finally:
        await db.dispose()


def _per_delivery(database_url: str, folder: Path) -> tuple[float, float]:
    """A delivery's instructions in one worker process, and a bare aiohttp loop's signed POST
    to the same receiver."""
    upgrade(database_url)
    with worker_bench(folder, database_url) as (env, port):
        url = f"http://127.0.0.1:{port}/hook"
        merchant_id, key = asyncio.run(_merchant(database_url, url))
        loop = [sys.executable, "-m", "bench.delivery_loop"]
        worker_env = {**env, "BENCH_MERCHANT": merchant_id}
        worker = count_between([*loop, "worker", str(DELIVERIES)], worker_env, folder)
        bare_env = {**env, "BENCH_URL": url, "BENCH_SECRET": key.hex()}
        bare = count_between([*loop, "bare", str(DELIVERIES)], bare_env, folder)
    return worker / DELIVERIES, bare / DELIVERIES


def _delivery_row(store: str, counts: tuple[float, float]) -> Row:
    worker, bare = counts
    return Row(
        f"deliveries {store}: instructions a delivery (thousands)",
        worker / 1000,
        "k",
        "bare aiohttp signed POST",
        bare / 1000,
        "- (before/after a hot-path change)",
    )


def _row(store: str, send: float, bare: float) -> Row:
    return Row(
        f"send {store}: instructions a send (thousands)",
        send / 1000,
        "k",
        "bare starlette",
        bare / 1000,
        "- (before/after a hot-path change)",
    )


def _payment_row(store: str, payment: float, send: float) -> Row:
    return Row(
        f"payment {store}: instructions a payment (thousands)",
        payment / 1000,
        "k",
        "instructions a send",
        send / 1000,
        "- (reference)",
    )


# For a pooler in transaction mode that keeps no prepared statements (docs/operations.md): the
# gateway's own cost of parsing no statement twice is here; the server's parse and plan at every
# send, and the extra trip, are in ``bench.statement_cache``'s rate.
_NO_STATEMENT_CACHE = {"AITOPUP_DATABASE_STATEMENT_CACHE": "false"}


def _uncached_row(uncached: float, send: float) -> Row:
    return Row(
        "send postgres, statement cache off: instructions a send (thousands)",
        uncached / 1000,
        "k",
        "cache on",
        send / 1000,
        "- (the cost of a pooler keeping none)",
    )


def run() -> list[Row]:
    if shutil.which(VALGRIND) is None or shutil.which(CONTROL) is None:
        print("valgrind is not installed (apt-get install valgrind): instruction counts skipped")
        return []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        folder = Path(tmp)
        bare = _per_request("bare", {}, folder)
        sqlite_url = f"sqlite+aiosqlite:///{tmp}/instructions.db"
        send = _per_request("send", _send_env(sqlite_url, redis_url), folder)
        rows.append(_row("sqlite", send, bare))
        payment = _per_payment(sqlite_url, redis_url, folder)
        rows.append(_payment_row("sqlite", payment, send))
        deliveries_url = f"sqlite+aiosqlite:///{tmp}/deliveries.db"
        rows.append(_delivery_row("sqlite", _per_delivery(deliveries_url, folder)))
        pg_base = os.environ.get("AITOPUP_BENCH_POSTGRES_URL", DEFAULT_PG)
        if postgres_available(pg_base):
            with postgres_database(pg_base) as pg_url:
                env = _send_env(pg_url, redis_url)
                send = _per_request("send", env, folder)
                payment = _per_payment(pg_url, redis_url, folder)
                uncached = _per_request("send", {**env, **_NO_STATEMENT_CACHE}, folder)
            rows.append(_row("postgres", send, bare))
            rows.append(_payment_row("postgres", payment, send))
            rows.append(_uncached_row(uncached, send))
            with postgres_database(pg_base) as pg_url:
                rows.append(_delivery_row("postgres", _per_delivery(pg_url, folder)))
    return rows


if __name__ == "__main__":
    from .report import run_alone

    run_alone(run)
