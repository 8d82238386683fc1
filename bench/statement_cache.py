"""What the statement cache off costs the send (``AITOPUP_DATABASE_STATEMENT_CACHE=false``, for
a pooler in transaction mode that keeps no prepared statements), on PostgreSQL.

Up to four gateway processes serve one database: with the drivers' caches on (the default,
the baseline), with them off, with them off through a real PgBouncer in transaction mode that
keeps no prepared statements (Debian 12's 1.18, ``tests.fixtures.pgbouncer``) where one is
installed, and with them on through one that keeps them (1.21+, ``make pgbouncer``'s) where one
is built, as docs/operations.md deploys it. Off, every statement is parsed and planned again at
each run, and prepared in a trip of its own before it (asyncpg's unnamed statements). The
send's closed loop (``bench.topup``'s: 32 clients, a real merchant's send) runs on each in turn,
``ROUNDS`` times; each figure is the round whose ratio to the baseline of the same round is the
median, with the gateway's CPU a send from ``/proc``.
"""

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from gateway.store.migrate import upgrade
from tests.fixtures.pgbouncer import KEEPING_HINT, pgbouncer_binary, running_pgbouncer

from .load import Result
from .report import Row, failures, run_alone
from .servers import (
    DEFAULT_PG,
    STORES,
    Served,
    postgres_available,
    postgres_database,
    redis_server,
    uvicorn_server,
)
from .topup import CLIENTS, _closed, _cpu_ms_a_request, _gateway_env, _prepare

__all__ = ["run"]

ROUNDS = int(os.environ.get("AITOPUP_BENCH_CACHE_ROUNDS", "3"))
# PgBouncer's server connections for the one database and user: above a gateway's pool (its
# ``AITOPUP_DATABASE_POOL_SIZE`` twice, with SQLAlchemy's), so the pooler adds no wait of its own.
POOLER_CONNECTIONS = 24


@contextmanager
def _pooled(pg_base: str, database_url: str, *, keeping: bool = False) -> Iterator[str | None]:
    """``database_url`` through a PgBouncer of the bench's own, ``keeping`` prepared statements
    or none; None without such a pgbouncer."""
    if pgbouncer_binary(keeping=keeping) is None:
        hint = KEEPING_HINT if keeping else "apt-get install pgbouncer"
        print(f"no pgbouncer for this row ({hint}): it is skipped")
        yield None
        return
    with running_pgbouncer(pg_base, pool_size=POOLER_CONNECTIONS, keeping=keeping) as bouncer:
        yield bouncer.url(database_url)


# One round of a gateway: its loop and CPU ms a send, beside the baseline's of the same round.
Taken = tuple[Result, float, Result, float]


def _median(rounds: list[Taken]) -> Taken:
    return sorted(rounds, key=lambda r: r[0].throughput / max(r[2].throughput, 1e-9))[
        len(rounds) // 2
    ]


def measure(pg_base: str, database_url: str, redis_url: str) -> list[Row]:
    upgrade(database_url)
    key = asyncio.run(_prepare(database_url, endpoint=True))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    off = {"AITOPUP_DATABASE_STATEMENT_CACHE": "false"}
    pooled = {"AITOPUP_DATABASE_POOLED": "true"}
    with ExitStack() as stack:
        pooled_url = stack.enter_context(_pooled(pg_base, database_url))
        kept_url = stack.enter_context(_pooled(pg_base, database_url, keeping=True))
        gateways: dict[str, Served] = {}
        for name, url, extra in (
            ("on", database_url, {}),
            ("off", database_url, off),
            ("pooled", pooled_url, {**off, **pooled}),
            ("kept", kept_url, pooled),
        ):
            if url is not None:
                env = _gateway_env(url, redis_url, extra)
                gateways[name] = stack.enter_context(
                    uvicorn_server("gateway.app:app_from_env", env, factory=True)
                )

        def loop(name: str) -> tuple[Result, float]:
            served = gateways[name]
            url = f"{served}/api/public/v1/topup/send"
            return _cpu_ms_a_request(served.pid, lambda: _closed(url, headers, keyed=True))

        taken: dict[str, list[Taken]] = {name: [] for name in gateways if name != "on"}
        loops: list[Result] = []
        for _ in range(ROUNDS):
            on, on_cpu = loop("on")
            loops.append(on)
            for name in taken:
                result, cpu = loop(name)
                loops.append(result)
                taken[name].append((result, cpu, on, on_cpu))
    rows: list[Row] = []
    for name, label, what in (
        ("off", "statement cache off", "the cost of a pooler keeping none"),
        ("pooled", "via pgbouncer, cache off", "the cost of a pooler keeping none"),
        ("kept", "via pgbouncer keeping prepared statements, cache on", "a pooler's own cost"),
    ):
        if name not in taken:
            continue
        result, cpu, on, on_cpu = _median(taken[name])
        rows += [
            Row(
                f"send postgres, {label}: req/s at {CLIENTS} clients",
                result.throughput,
                "req/s",
                "cache on, direct",
                on.throughput,
                f"- ({what})",
            ),
            Row(
                f"send postgres, {label}: gateway CPU ms a send",
                cpu,
                "ms",
                "cache on, direct",
                on_cpu,
                "-",
            ),
        ]
    rows.append(failures("send postgres, statement cache on and off", loops))
    return rows


def run() -> list[Row]:
    pg_base = os.environ.get("AITOPUP_BENCH_POSTGRES_URL", DEFAULT_PG)
    if "postgres" not in STORES:
        return []
    if not postgres_available(pg_base):
        print(f"PostgreSQL not reachable at {pg_base}: its rows are skipped")
        return []
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp)) as redis_url,
        postgres_database(pg_base) as database_url,
    ):
        return measure(pg_base, database_url, redis_url)


if __name__ == "__main__":
    run_alone(run)
