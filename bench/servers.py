"""Start the processes a benchmark measures (uvicorn apps, a private Redis, a worker, the
receiver), each stopped on leaving, and a fresh database."""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

__all__ = [
    "DEFAULT_PG",
    "STORES",
    "Served",
    "admin_dsn",
    "cpu_seconds",
    "each_store",
    "free_port",
    "postgres_available",
    "postgres_database",
    "process",
    "redis_server",
    "uvicorn_server",
    "wait_listening",
]

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BENCH_PEPPER = "bench-pepper-0123456789abcdef"
BENCH_SECRET = "bench-sealing-key-0123456789abcdef"
# Which stores' figures a suite runs, both by default (``each_store``, the send's own loops): a
# quick run that only checks a suite still works asks for the one it needs.
STORES = os.environ.get("AITOPUP_BENCH_STORES", "sqlite,postgres").split(",")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# How long a server may take to listen: its imports on a machine busy with other work (30 s
# was passed by a gateway's start beside a test run on two cores). It rules out one that never
# starts; the figures are measured once it has.
START_SECONDS = 120


def wait_listening(
    port: int, proc: "subprocess.Popen[bytes]", what: str, log: Path | None = None
) -> None:
    """Until something listens on ``port``; ``proc`` exiting first, or nothing listening within
    ``START_SECONDS``, raises, with the end of ``log`` (the process's output) when there is one."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            code = proc.returncode
            raise RuntimeError(f"{what} exited during start-up (code {code}){_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {START_SECONDS} s{_tail(log)}")


def _tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    said = log.read_text(errors="replace").splitlines()[-lines:]
    return "".join(f"\n  {line}" for line in said)


@contextmanager
def process(
    args: list[str], env: Mapping[str, str], log: Path, *, port: int | None = None
) -> Iterator["subprocess.Popen[bytes]"]:
    """``args`` as a process, its output (stdout and stderr) in ``log``; with ``port``, entered
    once it listens there. Stopped on leaving: SIGTERM, then SIGKILL if it is still there after
    15 s (a worker closes within 10)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(args), env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    try:
        if port is not None:
            wait_listening(port, proc, log.stem, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A Redis of the benchmark's own, its files and log in ``folder``: its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is needed for the benchmarks")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    args += ["--save", "", "--appendonly", "no"]
    with process(args, os.environ, folder / "redis.log", port=port):
        yield f"redis://127.0.0.1:{port}/0"


class Served(str):
    """A served process's base URL, which also names the process (``pid``), for its CPU."""

    pid: int


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has spent, from ``/proc``: steadier than
    a rate on two cores, where the load generator and the server share the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])  # utime and stime, the stat's 14th and 15th
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def uvicorn_server(target: str, env: dict[str, str], *, factory: bool) -> Iterator[Served]:
    """One uvicorn process with uvloop and httptools, as production runs it."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        args.append("--factory")
    # Links on the address served, as ``aitopup serve`` sets them (the OAuth metadata's issuer
    # must be the very URL a client reached).
    public = {"AITOPUP_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    # The access log goes to /dev/null: written (as in production) but not onto this terminal.
    proc = subprocess.Popen(args, env={**os.environ, **public, **env}, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, proc, target)
        served = Served(f"http://127.0.0.1:{port}")
        served.pid = proc.pid
        yield served
    finally:
        proc.terminate()
        proc.wait()


def admin_dsn(url: str) -> str:
    """The plain libpq DSN of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    name = f"aitopup_bench_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn(base_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_available(base_url: str) -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(admin_dsn(base_url), timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def each_store(folder: Path, name: str) -> Iterator[tuple[str, str]]:
    """``("sqlite", url)`` of a file ``name`` under ``folder``, then ``("postgres", url)`` of a
    fresh database (dropped once the next is asked for) when the server at
    ``AITOPUP_BENCH_POSTGRES_URL`` answers; each suite runs its figures on both, or on those
    ``AITOPUP_BENCH_STORES`` names."""
    if "sqlite" in STORES:
        yield "sqlite", f"sqlite+aiosqlite:///{folder / name}.db"
    if "postgres" not in STORES:
        return
    pg_base = os.environ.get("AITOPUP_BENCH_POSTGRES_URL", DEFAULT_PG)
    if not postgres_available(pg_base):
        print(f"PostgreSQL not reachable at {pg_base}: its rows are skipped")
        return
    with postgres_database(pg_base) as pg_url:
        yield "postgres", pg_url
