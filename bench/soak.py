"""``make soak``: many processes under faults, and a ledger of what they did.

Starts what compose runs, without Docker: a PostgreSQL cluster of its own (a throwaway one, never
a shared server) or a SQLite file, a ``redis-server`` of its own, ``N`` gateways
(``aitopup serve``) behind the project's nginx (``deploy/nginx.conf``, its upstream pointed at
them) and ``M`` workers (``python -m worker``). A client sends top-ups through nginx at a steady
rate, each with an ``Idempotency-Key`` it keeps while it retries (as docs/webhooks.md tells
clients to); ``AITOPUP_SOAK_ENDPOINTS`` webhook endpoints (1; the ten-million shape's fan-out is
10) point at a receiver here that verifies every signature with the ``standardwebhooks`` library
and counts each endpoint's webhook-ids. On a schedule: kill -9 a worker, kill -9
a gateway (each started again a second later, as a supervisor would), restart Redis empty, stop
PostgreSQL for ``AITOPUP_SOAK_PG_STOP_SECONDS``.

The report: sends accepted and refused, debits per accepted send, ledger sums, deliveries stored
against distinct deliveries received, duplicates, time to recover after each fault, send latency
inside and outside the fault windows, each delivery's commit to its first receipt, and the most
PostgreSQL connections held at once (``bench.soak_watch``). It exits non-zero on any loss, double
debit, broken sum, bad signature, connections past the bound docs/operations.md gives, or a p99
outside the fault windows (the send's, an event to its receipt) past DESIGN's budget.
Settings: ``AITOPUP_SOAK_*`` (``bench.soak_settings``); its checks: ``bench.soak_check``.
"""

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx

from gateway.merchants import service as merchants
from gateway.redis_server import PortHold
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.values.clock import new_id, utcnow
from keys import Sealer
from tests.fixtures.pgbouncer import INSTALL_HINT, KEEPING_HINT, Pgbouncer, pgbouncer_binary
from tests.fixtures.postgres import ThrowawayPostgres, candidate_binaries
from worker.store import POSTGRES_SETTINGS

from . import soak_history, soak_watch
from .endpoints import add_endpoint
from .servers import admin_dsn, free_port, wait_listening
from .soak_check import SEND_PATH, Injected, Received, Report, Send, check, connections
from .soak_settings import FAULTS, POOL_SIZE, POOLER_POOL, SoakSettings
from .stopping import unwind_on_sigterm

__all__ = ["find_nginx", "main", "soak"]

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
PEPPER = "soak-pepper-0123456789abcdef"
SEALING = "soak-sealing-key-0123456789abcdef"
# What gives the soak its nginx, as .ci/run installs it.
NGINX_PACKAGE = "nginx-light"
INITIAL_CENTS = 1_000_000_000


class Cluster:
    """The processes, each startable again on its own port."""

    def __init__(self, folder: Path, settings: SoakSettings) -> None:
        self.folder = folder
        self.settings = settings
        # Held for the run: Redis and a gateway are killed and started again on the same port,
        # which no other process can take in between.
        self._holds = [PortHold() for _ in range(1 + settings.gateways)]
        self.redis_port = self._holds[0].port
        self.gateway_ports = [hold.port for hold in self._holds[1:]]
        self.proxy_port = free_port()
        self.postgres: ThrowawayPostgres | None = None
        self.pgbouncer: Pgbouncer | None = None
        self.database_url = ""  # what the gateways connect to
        self.worker_url = ""  # what the workers connect to
        self.direct_url = ""  # the database itself, for the soak's own checks
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def env(self, *, worker: bool = False) -> dict[str, str]:
        pooled: dict[str, str] = {}
        if self.pgbouncer is not None:
            pooled["AITOPUP_DATABASE_POOLED"] = "true"
            pooled["AITOPUP_DATABASE_STATEMENT_CACHE"] = str(self.settings.statement_cache).lower()
        return {
            **os.environ,
            **pooled,
            "AITOPUP_DATABASE_URL": self.worker_url if worker else self.database_url,
            "AITOPUP_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "AITOPUP_KEY_PEPPER": PEPPER,
            "AITOPUP_SECRET_KEY": SEALING,
            "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
            "AITOPUP_ACCESS_LOG": "false",
            "AITOPUP_WEBHOOK_TIMEOUT_SECONDS": "5",
            "AITOPUP_WEBHOOK_RETRY_SCHEDULE": "0,1,2,4,8,16,30",
            "AITOPUP_DATABASE_POOL_SIZE": str(POOL_SIZE),
        }

    def start_store(self) -> None:
        if self.settings.store == "sqlite":
            self.database_url = f"sqlite+aiosqlite:///{self.folder / 'soak.db'}"
        else:
            binaries = candidate_binaries()
            if not binaries:
                raise SystemExit("the PostgreSQL soak needs initdb and postgres (or pgserver)")
            self.postgres = ThrowawayPostgres(binaries[0].folder)
            self.database_url = self.postgres.start()
        upgrade(self.database_url)
        self.direct_url = self.worker_url = self.database_url
        if self.settings.pooler != "none":
            assert self.postgres is not None, "main() refuses a pooler on SQLite"
            asyncio.run(_worker_role(self.database_url))
            self.pgbouncer = Pgbouncer(
                self.database_url,
                users=[WORKER_ROLE],
                pool_size=POOLER_POOL,
                keeping=self.settings.statement_cache,
            )
            self.pgbouncer.start()
            self.worker_url = self.pgbouncer.url(self.database_url, user=WORKER_ROLE)
            self.database_url = self.pgbouncer.url(self.database_url)

    def start(self, name: str) -> None:
        """Start (or start again) one process by name: redis, proxy, gateway-N, worker-N."""
        if name == "redis":
            binary = shutil.which("redis-server") or "redis-server"
            args = [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1"]
            args += ["--save", "", "--appendonly", "no"]
        elif name == "proxy":
            args = self._proxy_args()
        elif name.startswith("gateway-"):
            port = self.gateway_ports[int(name.split("-")[1])]
            args = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
        else:
            args = [sys.executable, "-m", "worker"]
        env = self.env(worker=name.startswith("worker-"))
        with (self.folder / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                args, env=env, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT
            )

    async def listening(self, name: str, port: int) -> None:
        """Until process ``name`` listens on ``port``: as long as a start may take on a busy
        machine, and no longer than the process lives."""
        log = self.folder / f"{name}.log"
        await asyncio.to_thread(wait_listening, port, self.procs[name], name, log)

    @property
    def proxy_log(self) -> Path:
        """Each request as the proxy timed it (``soak_watch.PROXY_LOG_FORMAT``)."""
        return self.folder / "proxy-requests.log"

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.pgbouncer is not None:
            self.pgbouncer.stop()
        if self.postgres is not None:
            self.postgres.stop()
        for hold in self._holds:
            hold.close()

    def _proxy_args(self) -> list[str]:
        text = NGINX_CONF.read_text()
        servers = "\n".join(
            f"        server 127.0.0.1:{port} max_conns=512;" for port in self.gateway_ports
        )
        text, found = re.subn(r"^\s*server gateway:8000[^;]*;", servers, text, flags=re.M)
        assert found == 1, "deploy/nginx.conf's upstream moved"
        text, found = re.subn(r"listen 8080;", f"listen 127.0.0.1:{self.proxy_port};", text)
        assert found == 1, "deploy/nginx.conf's listen moved"
        text = re.sub(r"^worker_processes auto;", "worker_processes 1;", text, flags=re.M)
        timed = soak_watch.PROXY_LOG_FORMAT
        text = text.replace(
            "access_log /dev/stdout aitopup;",
            f"log_format soak '{timed}';\n    access_log {self.proxy_log} soak;",
        )
        (self.folder / "nginx.conf").write_text(text)
        nginx = find_nginx(self.settings.nginx)
        assert nginx is not None, "main() checks for nginx first"
        options = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        prefix = f"{self.folder}/"
        return [nginx, "-p", prefix, "-c", "nginx.conf", "-e", "stderr", "-g", options]


WORKER_ROLE = "aitopup_worker"


async def _worker_role(database_url: str) -> None:
    """The workers' role on the soak's own cluster, as docs/operations.md makes it: its
    sessions start with the worker's planner settings, and it has grants on the tables alone
    (it makes and drops the history's partitions through the owner's functions, 0079)."""
    conn = await asyncpg.connect(admin_dsn(database_url))
    try:
        await conn.execute(f"CREATE ROLE {WORKER_ROLE} LOGIN")
        for name, value in POSTGRES_SETTINGS.items():
            await conn.execute(f"ALTER ROLE {WORKER_ROLE} SET {name} = {value}")
        await conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {WORKER_ROLE}")
        await conn.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {WORKER_ROLE}")
    finally:
        await conn.close()


def find_nginx(named: str | None = None) -> str | None:
    """The nginx binary the soak runs: ``named`` (a name on PATH or a path) when given, else
    ``nginx`` on PATH, else Debian's ``/usr/sbin/nginx``; None when there is none."""
    if named:
        return shutil.which(named)
    return shutil.which("nginx") or shutil.which("/usr/sbin/nginx")


async def _setup(
    db: Database, hook_url: str, endpoints: int
) -> tuple[str, str, dict[str, tuple[int, str]]]:
    """A merchant with a staging key and ``endpoints`` endpoints, the nth at ``hook_url/n``:
    (merchant id, key, each endpoint's id: its n and its secret)."""
    now = utcnow()
    async with db.transaction() as conn:
        merchant = await merchants.create_merchant(
            conn,
            db,
            name=f"soak-{uuid.uuid4().hex[:8]}",
            low_balance_threshold_cents=0,
            staging_initial_balance_cents=INITIAL_CENTS,
            now=now,
        )
        _, key = await merchants.create_key(conn, merchant.id, "staging", PEPPER.encode(), now)
        made: dict[str, tuple[int, str]] = {}
        for n in range(endpoints):
            endpoint_id = new_id("we")
            made[endpoint_id] = (
                n,
                await add_endpoint(
                    conn,
                    Sealer(SEALING.encode()),
                    env="staging",
                    merchant_id=merchant.id,
                    url=f"{hook_url}/{n}",
                    now=now,
                    endpoint_id=endpoint_id,
                ),
            )
    return merchant.id, key.raw, made


RETRIED = {429, 500, 502, 503, 504}


# The client's connections, and its requests in flight: no more than it has connections, as
# httpx's pool matches every queued request against every connection on each request and
# answer, and with thousands queued behind a stalled gateway the soak's own process spent its
# time there, its faults and retries held up for minutes.
CONNECTIONS = 60


async def _send(
    client: httpx.AsyncClient, key: str, send: Send, give_up: float, room: asyncio.Semaphore
) -> None:
    """One send, retried with its key until it gets an answer that is not an outage; each try
    waits for a room of the client's (that wait is in its latency, as the send was due)."""
    body = {
        "platform": "claude",
        "amount_cents": send.amount,
        "recipient_email": "soak@example.com",
    }
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": send.key}
    delay = 0.1
    while time.monotonic() - send.started < give_up:
        send.tries += 1
        try:
            async with room:
                reply = await client.post(SEND_PATH, json=body, headers=headers)
        except httpx.HTTPError:
            reply = None
        if reply is not None and reply.status_code not in RETRIED:
            data = reply.json()
            send.code = data.get("code")
            send.transaction_id = data.get("transaction_id")
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    send.ended = time.monotonic()


async def _load(client: httpx.AsyncClient, key: str, settings: SoakSettings) -> list[Send]:
    sends: list[Send] = []
    tasks: list[asyncio.Task[None]] = []
    room = asyncio.Semaphore(CONNECTIONS)
    begin = time.monotonic()
    total = int(settings.rate * settings.seconds)
    for n in range(total):
        wait = begin + n / settings.rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        send = Send(key=f"soak-{uuid.uuid4().hex}", amount=1 + n % 97, started=time.monotonic())
        sends.append(send)
        tasks.append(asyncio.create_task(_send(client, key, send, settings.give_up_seconds, room)))
    await asyncio.gather(*tasks)
    return sends


async def _faults(
    cluster: Cluster, settings: SoakSettings, begin: float, injected: list[Injected]
) -> None:
    chosen = {name.strip() for name in settings.faults.split(",")}
    faults = [
        f for f in FAULTS if f in chosen and (settings.store == "postgres" or f != "postgres")
    ]
    step = settings.seconds / (len(faults) + 1)
    for n, fault in enumerate(faults, start=1):
        wait = begin + n * step - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        at = time.monotonic()
        if fault == "worker":
            cluster.kill("worker-0")
            await asyncio.sleep(1.0)
            cluster.start("worker-0")
        elif fault == "gateway":
            cluster.kill("gateway-0")
            await asyncio.sleep(1.0)
            cluster.start("gateway-0")
        elif fault == "redis":
            cluster.kill("redis")  # no persistence: it comes back empty
            cluster.start("redis")
        else:
            assert cluster.postgres is not None
            # A thread of its own: the default executor is where every new client connection
            # resolves its address, and during the outage thousands of retries queue there.
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(max_workers=1) as own:
                await loop.run_in_executor(own, cluster.postgres.pause)
                await asyncio.sleep(settings.pg_stop_seconds)
                await loop.run_in_executor(own, cluster.postgres.resume)
        injected.append(Injected(fault, at, time.monotonic()))


async def soak(settings: SoakSettings, folder: Path) -> Report:
    cluster = Cluster(folder, settings)
    received = Received()
    try:
        await asyncio.to_thread(cluster.start_store)
        receiver = Receiver(received)
        db = open_database(cluster.direct_url, pool_size=2)
        runners: list[Database] = []
        watch: soak_watch.ConnectionWatch | None = None
        try:
            if settings.scale:
                await soak_history.prepare(db, utcnow())
                # Two workers' retention at the compressed clock, as the workers connect.
                runners = [
                    open_database(
                        cluster.worker_url,
                        pool_size=2,
                        statement_cache=cluster.settings.statement_cache,
                    )
                    for _ in range(2)
                ]
            hook_url = f"http://127.0.0.1:{receiver.port}/hook"
            merchant_id, key, endpoints = await _setup(db, hook_url, settings.endpoints)
            await receiver.start(dict(endpoints.values()))
            cluster.start("redis")
            await cluster.listening("redis", cluster.redis_port)
            for n in range(settings.gateways):
                cluster.start(f"gateway-{n}")
            for n in range(settings.workers):
                cluster.start(f"worker-{n}")
            for n, port in enumerate(cluster.gateway_ports):
                await cluster.listening(f"gateway-{n}", port)
            if cluster.postgres is not None:
                watch = soak_watch.ConnectionWatch(admin_dsn(cluster.direct_url))
                watch.start()
            cluster.start("proxy")
            await cluster.listening("proxy", cluster.proxy_port)
            injected: list[Injected] = []
            base = f"http://127.0.0.1:{cluster.proxy_port}"
            limits = httpx.Limits(
                max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS // 2
            )
            async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
                begin = time.monotonic()
                faults = asyncio.create_task(_faults(cluster, settings, begin, injected))
                history = None
                if runners:
                    shape = soak_history.Shape(settings.scale, settings.weeks, settings.seconds)
                    history = asyncio.create_task(soak_history.compressed(runners, shape, utcnow()))
                sends = await _load(client, key, settings)
                await faults
                figures = None if history is None else await history
            paths = {endpoint_id: n for endpoint_id, (n, _) in endpoints.items()}
            proxied = cluster.proxy_log.read_text().splitlines()
            found = await check(
                db, merchant_id, sends, received, injected, settings, paths, proxied
            )
            if watch is not None:
                await watch.stop()
                connections(
                    found,
                    watch,
                    settings,
                    pooled=cluster.pgbouncer is not None,
                    runners=len(runners),
                )
            if figures is not None:
                lines, failures = await soak_history.report(db, figures)
                found.lines.extend(lines)
                found.failures.extend(failures)
            return found
        finally:
            if watch is not None:
                await watch.stop()
            await receiver.stop()
            for each in runners:
                await each.dispose()
            await db.dispose()
    finally:
        cluster.stop_all()


class Receiver:
    """The receiver's process (``bench.soak_receiver``) on a port held for the run, and what it
    said it received, read as it says it."""

    def __init__(self, received: Received) -> None:
        self.received = received
        self.hold = PortHold()  # taken before the endpoints name it; nothing else takes it
        self.port = self.hold.port
        self._proc: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self, secrets: Mapping[int, str]) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.soak_receiver",
            str(self.port),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        given = "".join(f"{n} {secret}\n" for n, secret in secrets.items())
        self._proc.stdin.write(f"{given}\n".encode())
        await self._proc.stdin.drain()
        said = await asyncio.wait_for(self._proc.stdout.readline(), timeout=30)
        if said.strip() != b"listening":
            raise RuntimeError(f"the receiver did not start: {said!r}")
        self._reading = asyncio.create_task(self._read(self._proc.stdout))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        received = self.received
        while line := await stream.readline():
            said = line.split()
            if said[0] == b"bad":
                received.bad_signatures += 1
                continue
            delivered = (int(said[1]), said[2].decode())
            wall = float(said[3])
            received.ids[delivered] += 1
            received.first_at.setdefault(delivered, wall)
            received.arrivals.append(time.monotonic() - (time.time() - wall))

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
        if self._reading is not None:
            await self._reading  # to the end of what it said
        self.hold.close()


@contextlib.contextmanager
def _folder(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="aitopup-soak-") as folder:
        yield Path(folder)


def main() -> int:
    settings = SoakSettings()
    if find_nginx(settings.nginx) is None:
        print(
            f"soak: nginx not found ({settings.nginx or 'nginx on PATH, /usr/sbin/nginx'}); the"
            f" soak runs deploy/nginx.conf: install it with: sudo apt-get install -y"
            f" {NGINX_PACKAGE}",
            file=sys.stderr,
        )
        return 2
    if settings.scale and settings.store != "postgres":
        print("soak: a history at scale needs AITOPUP_SOAK_STORE=postgres (its partitions)")
        return 2
    if settings.pooler != "none":
        keeping = settings.statement_cache
        if settings.store != "postgres" or not pgbouncer_binary(keeping=keeping):
            hint = KEEPING_HINT if keeping else INSTALL_HINT
            print(f"soak: a pooler needs AITOPUP_SOAK_STORE=postgres and pgbouncer ({hint})")
            return 2
    pooled = {
        "none": "",
        "pgbouncer": " through pgbouncer keeping no prepared statements",
        "pgbouncer-prepared": " through pgbouncer keeping prepared statements",
    }[settings.pooler]
    print(
        f"soak: {settings.store}{pooled}, {settings.gateways} gateways, {settings.workers}"
        f" workers, {settings.rate:g} sends/s for {settings.seconds:g} s",
        flush=True,
    )
    if settings.scale:
        shape = soak_history.Shape(settings.scale, settings.weeks, settings.seconds)
        print(
            f"soak: history at {settings.scale:g} of ten million deliveries a day,"
            f" {shape.weeks} weeks compressed into {shape.seconds:g} s",
            flush=True,
        )
    with _folder(settings.folder) as folder:
        report = asyncio.run(soak(settings, folder))
    for line in report.lines:
        print(line)
    if report.failures:
        print("FAILED: " + "; ".join(report.failures))
        return 1
    dropped = ", the history's weeks dropped whole" if settings.scale else ""
    print(f"passed: nothing lost, nothing debited twice, every sum holds{dropped}")
    return 0


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
