"""What an idle worker costs: CPU of the real ``python -m worker`` process, read from
``/proc/<pid>/stat`` over ``AITOPUP_BENCH_IDLE_SECONDS`` (default 60) of no work, after it has
delivered a warm-up burst and a steady 200 events/s whose event-to-receipt p99 is reported
beside it (the idle wait must not cost latency).

``python -m bench.idle``: on SQLite in a temporary folder, then on a fresh PostgreSQL database
when ``AITOPUP_BENCH_POSTGRES_URL`` (default: the local server) answers. On PostgreSQL the
history is a year of weekly partitions (``bench.history.weekly_partitions``), as after a year of
running: what an idle worker looks at once a poll (the floor of its leases) grows with them.
"""

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from arq import create_pool
from arq.connections import RedisSettings

from gateway import outbox
from gateway.store.db import open_database
from gateway.store.migrate import upgrade
from keys import Sealer

from .deliveries import (
    RATE,
    SEALING,
    WARM_UP,
    _emit,
    _percentile,
    _Receiver,
    _setup,
    _steady,
    labelled,
    worker_bench,
)
from .history import weekly_partitions
from .load import collector_off
from .report import Row, run_alone
from .servers import each_store, process

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
    await asyncio.to_thread(upgrade, database_url)
    partitioned = not database_url.startswith("sqlite")
    if partitioned:
        await weekly_partitions(database_url)
    with worker_bench(folder, database_url) as (env, receiver_port):
        db = open_database(database_url)
        redis = await create_pool(RedisSettings.from_dsn(env["AITOPUP_REDIS_URL"]))
        receiver = _Receiver(receiver_port)
        try:
            hook_url = f"http://127.0.0.1:{receiver_port}/hook"
            merchant_id, _ = await _setup(db, Sealer(SEALING.encode()), hook_url)
            with process([sys.executable, "-m", "worker"], env, folder / "worker.log") as proc:
                await outbox.wake_for(redis, await _emit(db, merchant_id, WARM_UP))
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
    if partitioned:
        window += ", a year of weekly partitions"
    return [
        Row(window, share, "%", "target", 1.0, "< 1% of a core"),
        # The process's own CPU seconds: what load on a shared machine changes least.
        Row(f"{window}, CPU time", used * 1000, "ms", "1% of the window", IDLE_SECONDS * 10, "-"),
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
    run_alone(run)
