"""Passwords: argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommended profile), hashed
and checked on a thread, as each costs tens of milliseconds of CPU the event loop must not wait on.

An unknown e-mail is checked against a dummy hash, so a sign-in takes as long whether the account
exists or not.
"""

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "hash_password", "is_argon2id", "verify_password"]

MIN_LENGTH = 12
# Past this, a password is only a way to make the server hash megabytes.
MAX_LENGTH = 1024

_HASHER = PasswordHasher(type=Type.ID)
_DUMMY = _HASHER.hash("a password nobody has, hashed once for unknown accounts")


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
