"""Passwords: argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommended profile), hashed
and checked on a thread, as each costs tens of milliseconds of CPU the event loop must not wait on.

An unknown e-mail is checked against a dummy hash, so a sign-in takes as long whether the account
exists or not. Each hash costs 64 MiB and four lanes of CPU, so a process runs at most
``AITOPUP_PASSWORD_HASHES_PER_PROCESS`` at once (``HashSlots``): past it a form is refused at
once, rather than queued behind a burst that would hold memory and delay everyone's answer.

A new password (sign-up, reset, change, an invitation's password-set link) follows one rule,
``problem``, judged on its NFKC form (NIST SP 800-63B, 5.1.1.2), so ``e`` and a combining
accent count as the one ``é`` they show, and an ideographic space as a space: 12 to 1024
characters; not spaces (or invisible characters) alone, nor one character repeated; not one of
the 30,000 commonest passwords (``zxcvbn``'s list, compared case-insensitively), which a
guesser tries first whatever their length; and not a pattern ``zxcvbn`` guesses in under a
million tries (a sequence, a keyboard row, a repeat, a date). The pattern is judged on the first
``PATTERN_SPAN`` characters: ``zxcvbn``'s time grows faster than the length, and a form must
not hold the event loop for it. What is hashed is the password as typed, so a stored hash
never changes meaning.

The dummy hash (a product-cost hash) and that list (``zxcvbn``'s import builds its matchers)
cost most of a second between them: they are made at their first need, and the gateway makes
them as it starts (``prepare``), so no process that never checks a password pays for them and
a sign-in never waits for them.
"""

import asyncio
import functools
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..values.marking import marked

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "HashSlots",
    "HashesBusy",
    "hash_password",
    "is_argon2id",
    "prepare",
    "problem",
    "slot_of",
    "verify_password",
]

MIN_LENGTH = 12
# Past this, a password is only a way to make the server hash megabytes.
MAX_LENGTH = 1024
# Whole sentences, so each is one entry of the catalogues; a test holds their numbers to the
# bounds above.
_TOO_SHORT = marked("Use at least 12 characters.")
_TOO_LONG = marked("Use at most 1024 characters.")

# zxcvbn takes about 30 ms for 32 characters on one core, and more than linearly past it.
PATTERN_SPAN = 32
# zxcvbn's score: 0 is under 10^3 guesses, 1 under 10^6.
_GUESSABLE = 1

_HASHER = PasswordHasher(type=Type.ID)
# The product's cost, as every stored hash has, whichever hasher checks it: an unknown
# account's check costs what a known one's does.
_DUMMY_HASHER = PasswordHasher(type=Type.ID)


@functools.cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


@functools.cache
def _dummy() -> str:
    return _DUMMY_HASHER.hash("a password nobody has, hashed once for unknown accounts")


def prepare() -> None:
    """Make the dummy hash and the list of common passwords now (on a thread: a hash's CPU)."""
    _common()
    _dummy()


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


def slot_of(hashes: HashSlots | None) -> AbstractContextManager[None]:
    """A slot of ``hashes``, or none needed (``None``: a caller outside a request, the CLI or
    a test, whose hashes no burst can multiply)."""
    return nullcontext() if hashes is None else hashes.slot()


def problem(password: str) -> str | None:
    """What is wrong with ``password`` as a new password, in a sentence for its form; ``None``
    when nothing is."""
    if len(password) > MAX_LENGTH:
        return _TOO_LONG
    shown = unicodedata.normalize("NFKC", password)
    if not any(ch.isprintable() and not ch.isspace() for ch in shown):
        return marked(
            "Spaces and invisible characters alone are no password: use letters or digits."
        )
    if shown.casefold() in _common():
        return marked(
            "That is one of the commonest passwords, the first a guesser tries: choose another."
        )
    if len(shown) < MIN_LENGTH:
        return _TOO_SHORT
    if len(set(shown.casefold())) == 1:
        return marked("One character repeated is among the first a guesser tries: choose another.")
    from zxcvbn import zxcvbn  # its matchers are built at import: see the module's docstring

    if zxcvbn(shown[:PATTERN_SPAN])["score"] <= _GUESSABLE:
        return marked(
            "That follows a pattern a guesser tries early (a sequence, a keyboard row, a "
            "repeat or a date): choose another."
        )
    return None


def is_argon2id(stored: str) -> bool:
    return stored.startswith("$argon2id$")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (``None``: no such account, always false, in the
    same time). The comparison is the library's own, in constant time."""
    return await asyncio.to_thread(_verify, stored, password)
