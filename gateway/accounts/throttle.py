"""Sign-in throttling, shared by every gateway process (``gateway.lockout`` over Redis).

Sign-in attempts are counted per pair of client address and account (its canonical e-mail,
whether or not it exists, so the answer tells nothing of which do) and per client address,
before the password is hashed (``Lockout.attempt``; a right password gives its count back), so a
burst past the limit costs no hash. Past ``FAILURES_PER_ACCOUNT`` for a pair, or the client's
share (``AITOPUP_AUTH_FAILURES_PER_CLIENT``), every attempt on it is refused until the window
(``AITOPUP_AUTH_FAILURE_WINDOW_SECONDS``) ends, the right password too, as the API keys' lockout
does: a lockout that let the right one through would tell a guesser which guess was right. The
account is locked only for the client that failed, so a stranger elsewhere cannot lock its owner
out; a guesser spread over many addresses gets ``FAILURES_PER_ACCOUNT`` a window from each,
against an argon2id hash of a password of at least 12 characters.

The forms that spend a one-time link (a password reset, an invitation's password-set link) are
counted the same way per client address (``link_limits``, ``AITOPUP_AUTH_FAILURES_PER_CLIENT``
a window): a forged or spent link counts, a link that worked gives its count back.

Unlike the API keys' lockout this fails closed (``Lockout.admit``): passwords are chosen by
people and can be guessed, so when Redis cannot count an attempt it is refused (503), never
checked uncounted.
"""

import hashlib

from ..ratelimit import Limit
from ..values.settings import Settings

__all__ = ["FAILURES_PER_ACCOUNT", "limits", "link_limits"]

FAILURES_PER_ACCOUNT = 10


def limits(settings: Settings, email: str, client: str) -> list[Limit]:
    window = settings.auth_failure_window_seconds
    # The address is hashed: Redis keys are not a list of who has an account.
    account = hashlib.sha256(email.encode()).hexdigest()[:32]
    return [
        Limit(f"signin:account:{client}:{account}", FAILURES_PER_ACCOUNT, window),
        Limit(f"signin:client:{client}", settings.auth_failures_per_client, window),
    ]


def link_limits(settings: Settings, client: str) -> list[Limit]:
    """The client's count of attempts at one-time links (reset, password-set)."""
    window = settings.auth_failure_window_seconds
    return [Limit(f"links:client:{client}", settings.auth_failures_per_client, window)]
