"""A ``redis-server`` of our own on 127.0.0.1, for ``make run`` when no Redis answers and for the
tests, which start one per session (and some a private one they stop and restart)."""

import re
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["PortHold", "RedisRefused", "RedisServer", "RedisStartError", "answers", "free_port"]


class RedisStartError(RuntimeError):
    """The server exited, or did not answer a PING, before the deadline."""


class RedisRefused(RuntimeError):
    """A Redis answers at the URL but refuses it: a password missing or wrong, a database it
    does not have."""


def free_port() -> int:
    """A port nothing listens on now; the caller binds it soon, before anyone else picks it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PortHold:
    """A port of 127.0.0.1 kept for its holder: bound (``SO_REUSEADDR``) but not listening, so
    the kernel hands it to no one else (no other ``bind`` to port 0, no outgoing connection)
    while a server of the holder's own (which binds with ``SO_REUSEADDR``, as redis-server,
    uvicorn, nginx and PostgreSQL do) may listen on it, go away and come back. A connection to
    it while no server listens is refused. Held until ``close``."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "PortHold":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PROCESS_ID = re.compile(rb"\r\nprocess_id:(\d+)\r\n")


def _answering_pid(host: str, port: int, *, timeout: float = 0.5, password: str = "") -> int | None:
    """The ``process_id`` of the Redis answering there (``INFO server``, after ``AUTH`` with
    ``password`` when one is given), None when none does."""
    reply = b""
    said = f"AUTH {password}\r\nINFO server\r\n" if password else "INFO server\r\n"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(said.encode())
            while (found := _PROCESS_ID.search(reply)) is None:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    return int(found.group(1))


def answers(url: str, *, timeout: float = 0.5) -> bool:
    """Whether a Redis answers a PING at ``url``, asked as the gateway will ask it: with the
    URL's user, password, database and TLS (an open port alone may be anything). A Redis that
    answers but refuses them raises ``RedisRefused``: it is there, and not to be replaced."""
    import redis
    from redis.exceptions import AuthenticationError, RedisError, ResponseError

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (AuthenticationError, ResponseError) as exc:
        raise RedisRefused(str(exc)) from None
    except (RedisError, OSError):  # nothing there, or something that is not a Redis
        return False
    finally:
        client.close()


class RedisServer:
    """``binary`` serving 127.0.0.1:``port`` with its files in ``folder``.

    The port stays the same across ``stop`` and ``start``, so a client may see the server go away
    and come back. Without ``port``, one is held for the server (``PortHold``) until ``close``:
    while the server is stopped no one else can take it. ``save`` is redis.conf's snapshot rule:
    empty keeps nothing on disk. With ``password``, it answers only a client that gives it
    (``requirepass``), and ``url`` carries it.
    """

    def __init__(
        self,
        binary: str | Path,
        port: int | None,
        folder: Path,
        *,
        save: str = "",
        password: str = "",
    ) -> None:
        self.binary = str(binary)
        self._hold: PortHold | None = None
        if port is None:
            self._hold = PortHold()
            port = self._hold.port
        self.port = port
        self.folder = folder
        self.save = save
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        given = f":{self.password}@" if self.password else ""
        return f"redis://{given}127.0.0.1:{self.port}/0"

    def start(self, *, within: float = 10.0) -> None:
        """Start the server and return once it answers; raises ``RedisStartError`` otherwise."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.folder.resolve()), "--save", self.save),
                *("--appendonly", "no"),
                *(("--requirepass", self.password) if self.password else ()),
            ],
            stdout=subprocess.DEVNULL,
        )
        # Started once this server answers: another process's Redis answering on the port
        # (it took the port before ours could bind it) is not ours, and ours exits.
        deadline = time.monotonic() + within
        while (
            answering := _answering_pid("127.0.0.1", self.port, timeout=0.2, password=self.password)
        ) != self.proc.pid:
            if self.proc.poll() is not None:
                self.proc = None
                taken = f"; port {self.port} is another process's" if answering else ""
                raise RedisStartError(f"{self.binary} exited during start-up{taken}")
            if time.monotonic() > deadline:
                self.stop()
                raise RedisStartError(f"{self.binary} did not answer within {within}s")
            time.sleep(0.02)  # this poll's interval, bounded by the deadline above

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

    def close(self) -> None:
        """Stop the server and give up the port held for it."""
        self.stop()
        if self._hold is not None:
            self._hold.close()

    def __enter__(self) -> "RedisServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
