"""What an idle worker costs: CPU of the real ``python -m worker`` process, read from
``/proc/<pid>/stat`` over ``AITOPUP_BENCH_IDLE_SECONDS`` (default 60) of no work, after it has
delivered a warm-up burst and a steady 200 events/s whose event-to-receipt p99 is reported
beside it (the idle wait must not cost latency).

``python -m bench.idle``: on SQLite in a temporary folder, then on a fresh PostgreSQL database
when ``AITOPUP_BENCH_POSTGRES_URL`` (default: the local server) answers.
"""

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from arq import create_pool
from arq.connections import RedisSettings

from gateway import outbox
from gateway.store.db import Database, create_engine
from gateway.store.migrate import upgrade
from keys import Sealer

from .deliveries import (
    PEPPER,
    RATE,
    SEALING,
    WARM_UP,
    _emit,
    _free_port,
    _percentile,
    _process,
    _Receiver,
    _setup,
    _steady,
    _wait_port,
    labelled,
)
from .load import collector_off
from .report import Row, print_rows
from .servers import each_store

__all__ = ["cpu_seconds", "run"]

IDLE_SECONDS = float(os.environ.get("AITOPUP_BENCH_IDLE_SECONDS", "60"))
STEADY_SECONDS = 10
# After the last delivery: the worker's own after-work (a sweep, freed connections) settles.
SETTLE = 3.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used, from ``/proc/<pid>/stat``."""
    # The command name (field 2) may hold spaces; what follows its ')' is fixed.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


async def _measure(folder: Path, database_url: str) -> list[Row]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed for this benchmark")
    redis_port, receiver_port = _free_port(), _free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    await asyncio.to_thread(upgrade, database_url)
    env = {
        **os.environ,
        "AITOPUP_DATABASE_URL": database_url,
        "AITOPUP_REDIS_URL": redis_url,
        "AITOPUP_KEY_PEPPER": PEPPER,
        "AITOPUP_SECRET_KEY": SEALING,
        "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
    }
    redis_args = [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
    receiver_args = [sys.executable, "-m", "bench.receiver", str(receiver_port)]
    with (
        _process(redis_args, env, folder / "redis.log"),
        _process(receiver_args, env, folder / "receiver.log"),
    ):
        _wait_port(redis_port)
        _wait_port(receiver_port)
        db = Database(create_engine(database_url))
        redis = await create_pool(RedisSettings.from_dsn(redis_url))
        receiver = _Receiver(receiver_port)
        try:
            hook_url = f"http://127.0.0.1:{receiver_port}/hook"
            merchant_id, _ = await _setup(db, Sealer(SEALING.encode()), hook_url)
            with _process([sys.executable, "-m", "worker"], env, folder / "worker.log") as proc:
                await outbox.enqueue(redis, await _emit(db, merchant_id, WARM_UP))
                await receiver.wait_for(WARM_UP)
                await receiver.reset()
                total = RATE * STEADY_SECONDS
                with collector_off():
                    committed = await _steady(db, redis, merchant_id, total)
                    await receiver.wait_for(total, within=60)
                arrivals = await receiver.arrivals()
                latencies = [(arrivals[i] - t) * 1000 for i, t in committed.items()]
                await asyncio.sleep(SETTLE)
                before, started = cpu_seconds(proc.pid), time.monotonic()
                await asyncio.sleep(IDLE_SECONDS)
                used = cpu_seconds(proc.pid) - before
                share = used / (time.monotonic() - started) * 100
        finally:
            await redis.aclose()
            await receiver.http.aclose()
            await db.dispose()
    window = f"idle worker CPU over {IDLE_SECONDS:g} s"
    return [
        Row(window, share, "%", "target", 1.0, "< 1% of a core"),
        Row(
            "event-to-receipt p99 at 200/s",
            _percentile(latencies, 0.99),
            "ms",
            "p99 target",
            100.0,
            "< 100 ms",
        ),
    ]


def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="aitopup-bench-") as folder:
        for store, url in each_store(Path(folder), "bench"):
            rows += labelled(store, asyncio.run(_measure(Path(folder), url)))
    return rows


if __name__ == "__main__":
    print_rows(run())
