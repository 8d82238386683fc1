"""Passwords: argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommended profile), hashed
and checked on a thread, as each costs tens of milliseconds of CPU the event loop must not wait on.

An unknown e-mail is checked against a dummy hash, so a sign-in takes as long whether the account
exists or not. Each hash costs 64 MiB and four lanes of CPU, so a process runs at most
``AITOPUP_PASSWORD_HASHES_PER_PROCESS`` at once (``HashSlots``): past it a form is refused at
once, rather than queued behind a burst that would hold memory and delay everyone's answer.
"""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "HashSlots",
    "HashesBusy",
    "hash_password",
    "is_argon2id",
    "verify_password",
]

MIN_LENGTH = 12
# Past this, a password is only a way to make the server hash megabytes.
MAX_LENGTH = 1024

_HASHER = PasswordHasher(type=Type.ID)
_DUMMY = _HASHER.hash("a password nobody has, hashed once for unknown accounts")


class HashesBusy(Exception):
    """Every hash slot of this process is in use."""


class HashSlots:
    """How many password hashes this process runs at once. Not a queue: a request that finds
    every slot taken is refused (``HashesBusy``), so a burst costs its refusals, not its hashes.
    One event loop's counter: taking and giving back a slot never awaits."""

    def __init__(self, limit: int = 4) -> None:
        self._limit = limit
        self._used = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self._used >= self._limit:
            raise HashesBusy
        self._used += 1
        try:
            yield
        finally:
            self._used -= 1


def is_argon2id(stored: str) -> bool:
    return stored.startswith("$argon2id$")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (``None``: no such account, always false, in the
    same time). The comparison is the library's own, in constant time."""
    return await asyncio.to_thread(_verify, stored, password)
