"""A ``redis-server`` of our own on 127.0.0.1, for ``make run`` when no Redis answers and for the
tests, which start one per session (and some a private one they stop and restart)."""

import socket
import subprocess
import time
from pathlib import Path

__all__ = ["RedisServer", "RedisStartError", "answers", "free_port"]


class RedisStartError(RuntimeError):
    """The server exited, or did not answer a PING, before the deadline."""


def free_port() -> int:
    """A port nothing listens on now; the caller binds it soon, before anyone else picks it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """Whether a Redis answers a PING there (an open port alone may be anything)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``binary`` serving 127.0.0.1:``port`` with its files in ``folder``.

    The port stays the same across ``stop`` and ``start``, so a client may see the server go away
    and come back. ``save`` is redis.conf's snapshot rule: empty keeps nothing on disk.
    """

    def __init__(self, binary: str | Path, port: int, folder: Path, *, save: str = "") -> None:
        self.binary = str(binary)
        self.port = port
        self.folder = folder
        self.save = save
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, within: float = 10.0) -> None:
        """Start the server and return once it answers; raises ``RedisStartError`` otherwise."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.folder.resolve()), "--save", self.save),
                *("--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + within
        while not answers("127.0.0.1", self.port, timeout=0.2):
            if self.proc.poll() is not None:
                self.proc = None
                raise RedisStartError(f"{self.binary} exited during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise RedisStartError(f"{self.binary} did not answer within {within}s")
            time.sleep(0.02)

    def stop(self, *, within: float = 10.0) -> None:
        """Stop the server (saving first when ``save`` says so); killed if it takes too long."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> "RedisServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
