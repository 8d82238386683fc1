"""What the soak watches beside its ledger: the PostgreSQL connections its processes hold, against
the bound docs/operations.md gives for them, and each event's time from its commit to its first
receipt.

The connections are counted from ``pg_stat_activity`` four times a second on a connection of
the watch's own (not counted), straight to the cluster whatever the processes go through; an
outage of PostgreSQL (the ``postgres`` fault) ends that connection, and the watch connects again
once the server answers. The bound is the documented one (docs/operations.md, "PostgreSQL
connections"): a gateway up to 3P (its SQLAlchemy pool of P, as many again in overflow, the hot
path's driver pool of P), a worker up to 12, and the soak's own checks; through PgBouncer,
PostgreSQL sees only the pooler's server connections (its pool a database and role, two roles
here) beside the soak's own checks."""

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

__all__ = [
    "OWN_CONNECTIONS",
    "PROXY_LOG_FORMAT",
    "RECEIPT_P99_BUDGET_MS",
    "SEND_P99_BUDGET_MS",
    "ConnectionWatch",
    "Latency",
    "bound",
    "proxy_times",
    "receipt_times",
    "until_received",
]

# The soak's own checks: its Database (pool 2, overflow 2, driver pool 2) and, with a history,
# the two runners' (the same each) when they connect directly.
OWN_CONNECTIONS = 6
WORKER_CONNECTIONS = 12  # docs/operations.md: a pool of 4 (up to 8) plus its driver pool
EVERY = 0.25
# The design's budgets (its "Performance budget"), which the soak's p99s outside its fault
# windows are judged against: a send at an open-loop 200 a second, on each store, and an
# event's commit to its receipt at a steady 200 events a second.
SEND_P99_BUDGET_MS = {"postgres": 10.0, "sqlite": 25.0}
RECEIPT_P99_BUDGET_MS = 50.0
# What the proxy (nginx) writes of each request: when it ended (seconds since the epoch, to the
# millisecond), how long it took from the request's first bytes read to the reply's last ones
# sent (to the millisecond), its status and its path. A send's latency is judged there, at the
# deployment's front door: the soak's own client is a Python process on the same two cores,
# whose event loop adds its own turns to every reading it takes.
PROXY_LOG_FORMAT = "$msec $request_time $status $request_uri"


def bound(
    *, gateways: int, workers: int, pool_size: int, pooler_pool: int | None, runners: int
) -> int:
    """The most connections PostgreSQL may see from the soak's processes and checks.
    ``pooler_pool``: PgBouncer's server connections a database and role (two roles: the
    gateways' and the workers'), or None when the processes connect directly; ``runners``: the
    history's runners (each a Database like the soak's own), which go through the pooler when
    there is one."""
    own = OWN_CONNECTIONS
    if pooler_pool is not None:
        return 2 * pooler_pool + own
    processes = gateways * 3 * pool_size + workers * WORKER_CONNECTIONS
    return processes + own + runners * OWN_CONNECTIONS


class ConnectionWatch:
    """The most connections to the soak's database seen at once, sampled until ``stop``."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.most = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self._dsn, timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                await asyncio.sleep(EVERY)  # the server is down (a fault): try again
                continue
            try:
                while True:
                    held = await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                        timeout=2,
                    )
                    self.most = max(self.most, int(held))
                    self.samples += 1
                    await asyncio.sleep(EVERY)
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                # A connection the driver can no longer use, as a PostgreSQL stop can leave one
                # mid-statement ("cannot switch to state …"): that connection ends, not the watch.
                asyncpg.InternalClientError,
                TimeoutError,
            ):
                pass
            finally:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency the soak judges: its readings (ms) outside the fault windows and its budget
    for their p99."""

    name: str
    readings: list[float]
    budget_ms: float

    def nth(self, fraction: float) -> float:
        ordered = sorted(self.readings)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def within(self) -> bool:
        """The p99 within its budget; none read is not within (nothing measured, nothing met)."""
        return bool(self.readings) and self.nth(0.99) <= self.budget_ms

    def line(self) -> str:
        return (
            f"{self.name} outside the warm-up and fault windows: n={len(self.readings)}"
            f" p50 {self.nth(0.5):.1f} ms, p99 {self.nth(0.99):.1f} ms,"
            f" max {max(self.readings, default=0):.1f} ms"
            f" (budget p99 {self.budget_ms:g} ms)"
        )

    def failure(self) -> str:
        return f"{self.name} p99 {self.nth(0.99):.1f} ms, past its budget of {self.budget_ms:g} ms"


def receipt_times(
    created: Mapping[str, datetime],
    receipts: Iterable[tuple[str, float]],
    outside: Iterable[tuple[float, float]],
) -> list[float]:
    """Each delivery's time (ms) from its event's commit (``created``: event id to its time) to
    its first receipt (``receipts``: an event's id and when one of its deliveries was first
    received, wall clock, ``time.time()``), for the events committed outside ``outside``'s fault
    windows (wall-clock seconds)."""
    windows = list(outside)
    took: list[float] = []
    for event_id, received in receipts:
        at = created.get(event_id)
        if at is None:
            continue
        stamp = _stamp(at)
        if any(a <= stamp <= b for a, b in windows):
            continue
        took.append((received - stamp) * 1000)
    return took


def proxy_times(
    lines: Iterable[str], path: str, outside: Iterable[tuple[float, float]]
) -> list[float]:
    """Each request to ``path`` answered 200, as the proxy timed it (ms; ``PROXY_LOG_FORMAT``'s
    ``lines``), begun outside ``outside``'s windows (wall-clock seconds)."""
    windows = list(outside)
    took: list[float] = []
    for line in lines:
        fields = line.split()
        if len(fields) != 4 or fields[2] != "200" or fields[3] != path:
            continue
        ended, seconds = float(fields[0]), float(fields[1])
        if any(a <= ended - seconds <= b for a, b in windows):
            continue
        took.append(seconds * 1000)
    return took


def until_received(
    created: Mapping[str, datetime],
    receipts: Iterable[tuple[str, float]],
    windows: Iterable[tuple[float, float]],
) -> list[tuple[float, float]]:
    """Each fault's window (wall-clock seconds) on until the last first receipt of the events
    committed in it: the deliveries a fault held up drain after it, and are its own."""
    firsts = [(_stamp(created[event_id]), at) for event_id, at in receipts if event_id in created]
    return [(a, max([b, *(at for stamp, at in firsts if a <= stamp <= b)])) for a, b in windows]


def _stamp(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def wall_of(monotonic: float) -> float:
    """A ``time.monotonic()`` reading as wall-clock seconds, for comparing with stored times."""
    return time.time() - (time.monotonic() - monotonic)
