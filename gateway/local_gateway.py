"""What ``make run`` keeps in this folder's ``.aitopup/`` for the commands run beside it: the
URL its gateway serves, so a link the CLI prints (``aitopup users invite``) points at the gateway
actually running, whatever its port, when no ``AITOPUP_PUBLIC_BASE_URL`` says otherwise; and the
lock that lets one start at a time run here (``hold_folder``)."""

import fcntl
import os
from pathlib import Path
from typing import IO

__all__ = [
    "DATA_DIR",
    "GUESSED_FOR",
    "FolderTaken",
    "guess",
    "hold_folder",
    "recall_url",
    "remember_url",
    "served_url",
]

DATA_DIR = Path(".aitopup")
_URL_FILE = DATA_DIR / "gateway-url"
_LOCK_FILE = DATA_DIR / "run.lock"


class FolderTaken(RuntimeError):
    """Another start runs in this folder: ``said`` is its process and the URL it serves."""

    def __init__(self, said: str) -> None:
        super().__init__(said)
        self.said = said


def hold_folder(url: str) -> IO[str]:
    """This folder's one start, serving ``url``: a lock on ``.aitopup/run.lock``, held while
    the file handed back stays open (the kernel lets it go when the process ends, however it
    ends). A second start here would share the store and the demo's key file, and revoke the
    key the first printed: it raises ``FolderTaken`` instead."""
    DATA_DIR.mkdir(exist_ok=True)
    held = _LOCK_FILE.open("a+")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.seek(0)
        said = held.read().strip()
        held.close()
        raise FolderTaken(said) from None
    held.seek(0)
    held.truncate()
    held.write(f"process {os.getpid()}, serving {url}\n")
    held.flush()
    return held


def served_url(host: str, port: int) -> str:
    """The URL a gateway told to serve on ``host``:``port`` is reached at from this machine: the
    base of its links when ``AITOPUP_PUBLIC_BASE_URL`` is unset (an address on every interface
    is reached on loopback)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (names the wildcard, binds nothing)
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


# Set beside ``AITOPUP_PUBLIC_BASE_URL`` by ``aitopup serve`` and ``make run`` when they guess it
# (it was unset): the host they bind, so the gateway knows its links are a guess.
GUESSED_FOR = "AITOPUP_PUBLIC_BASE_URL_GUESSED_FOR"


def guess(env: dict[str, str] | os._Environ[str], host: str, port: int) -> None:
    """``AITOPUP_PUBLIC_BASE_URL`` set in ``env`` to the address served on ``host``:``port``,
    and marked a guess (``GUESSED_FOR``)."""
    env["AITOPUP_PUBLIC_BASE_URL"] = served_url(host, port)
    env[GUESSED_FOR] = host


def remember_url(url: str) -> None:
    DATA_DIR.mkdir(exist_ok=True)
    _URL_FILE.write_text(url + "\n")


def recall_url() -> str | None:
    try:
        return _URL_FILE.read_text().strip() or None
    except OSError:  # no `make run` here yet
        return None
