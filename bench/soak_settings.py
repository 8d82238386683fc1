"""What ``make soak`` is told: ``AITOPUP_SOAK_*`` (``SoakSettings``), the faults it may inject,
and the pools its processes are given."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import soak_watch

__all__ = ["FAULTS", "POOLER_POOL", "POOL_SIZE", "Fault", "SoakSettings"]

Fault = Literal["worker", "gateway", "redis", "postgres"]
FAULTS: tuple[Fault, ...] = ("worker", "gateway", "redis", "postgres")
# Each gateway's pool (P), and PgBouncer's server connections a database and role.
POOL_SIZE = 5
POOLER_POOL = 8


class SoakSettings(BaseSettings):
    """``AITOPUP_SOAK_*``: the defaults finish within 10 minutes on 2 cores."""

    model_config = SettingsConfigDict(env_prefix="AITOPUP_SOAK_", extra="ignore")

    store: Literal["postgres", "sqlite"] = "postgres"
    # ``pgbouncer``: every gateway and worker connects through a PgBouncer in transaction mode
    # (Debian 12's 1.18, ``tests.fixtures.pgbouncer``) with the statement cache off, the workers
    # as a role of their own that carries their planner settings; PostgreSQL only.
    # ``pgbouncer-prepared``: the same through one that keeps prepared statements (1.21+,
    # ``make pgbouncer``'s), the cache on, as docs/operations.md deploys it.
    pooler: Literal["none", "pgbouncer", "pgbouncer-prepared"] = "none"
    gateways: int = 2
    workers: int = 2
    rate: float = 20.0  # sends a second
    # Endpoints each send's event goes to: 10 is the ten-million shape's fan-out (a million
    # sends a day, ten million deliveries), each endpoint a path of the one receiver.
    endpoints: int = Field(default=1, ge=1, le=20)
    seconds: float = 60.0  # of steady sends; faults are spread over it
    pg_stop_seconds: float = 10.0
    # The faults injected, spread over the run (names, commas between; empty: none, a steady
    # run to read the latencies a fault's recovery does not reach).
    faults: str = ",".join(FAULTS)
    # A client gives up on a send after this long of retrying (counted from when it was due);
    # above nginx's proxy_read_timeout (90 s), so a request a stalled gateway holds is retried.
    give_up_seconds: float = 180.0
    # Until every event is received, after the sends end.
    drain_seconds: float = 120.0
    # Where the processes' logs go, kept after the run; unset: a temporary folder.
    folder: Path | None = None
    # The nginx to run (a name on PATH or a path); unset: ``nginx`` on PATH, else Debian's.
    nginx: str | None = None
    # The budgets the p99s outside the fault windows are judged against (unset: DESIGN's
    # performance budget, ``soak_watch``'s: a send at 200/s on the store, an event to its
    # receipt at 200 events/s); ``judge_latency`` off prints them beside their budgets without
    # judging (a soak on a machine other work loads: the tests' short runs).
    send_p99_ms: float | None = Field(default=None, gt=0)
    receipt_p99_ms: float = Field(default=soak_watch.RECEIPT_P99_BUDGET_MS, gt=0)
    judge_latency: bool = True
    # Sends begun this long after the start, or after a process was started again, are its
    # warm-up (connections opened, statements prepared, code loaded), not the steady state the
    # p99s are judged on: counted inside a window, as the bench leaves out its first sends.
    warmup_seconds: float = Field(default=5.0, ge=0)
    # Above 0: the history of a merchant at ten million deliveries a day, times ``scale``,
    # written over ``weeks`` compressed weeks during the sends, with retention at each
    # compressed day (``bench.soak_history``); PostgreSQL only.
    scale: float = Field(default=0.0, ge=0.0, le=1.0)
    weeks: int = Field(default=6, ge=3, le=52)

    @property
    def statement_cache(self) -> bool:
        """The drivers' statement cache: off only through a pooler keeping no prepared
        statements; through a pooler, whether it keeps them."""
        return self.pooler != "pgbouncer"

    @property
    def send_budget_ms(self) -> float:
        return self.send_p99_ms or soak_watch.SEND_P99_BUDGET_MS[self.store]
