"""Human-typed codes: top-up vouchers and admin-issued redemption codes.

Both are bearer secrets, so they use an unambiguous alphabet and are hashed with a pepper wherever
only equality matters.
"""

import hashlib
import hmac
import secrets

from .apikey import ENVS

__all__ = [
    "canonical_voucher",
    "hash_code",
    "mint_redemption_code",
    "mint_voucher_code",
    "normalize_code",
]

# Crockford-style: no 0/O, 1/I/L, so a code read aloud survives.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


# Two characters at a time: a voucher is minted on every send, and a character at a time was
# most of its cost.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR = len(_PAIRS)


def _groups(prefix: str, groups: int) -> str:
    # One draw for the whole code (uniform over every code of this length), not one per
    # character: each draw is a system call.
    number = secrets.randbelow(_PAIR ** (2 * groups))
    parts = [prefix]
    for _ in range(groups):
        number, group = divmod(number, _PAIR * _PAIR)
        parts.append(_PAIRS[group // _PAIR] + _PAIRS[group % _PAIR])
    return "-".join(parts)


# A staging voucher says so where a reader looks first, so nobody mistakes a sandbox voucher
# for one worth credits; a live voucher never spells it.
_STAGING_VOUCHER = "ATU-TEST"


def mint_voucher_code(env: str) -> str:
    """What the recipient redeems on the platform: ``ATU-XXXX-XXXX-XXXX`` in live,
    ``ATU-TEST-XXXX-XXXX-XXXX`` in staging (the same randomness after the marker)."""
    if env not in ENVS:
        raise ValueError(f"env must be one of {ENVS}")
    if env == "staging":
        return _groups(_STAGING_VOUCHER, 3)
    while True:  # one draw in about 920,000 spells TEST first: draw again
        code = _groups("ATU", 3)
        if not code.startswith(_STAGING_VOUCHER + "-"):
            return code


_VOUCHER_CHARS = 4 * 3  # the randomness after the marker: three groups of four


def canonical_voucher(code: str) -> str | None:
    """``code`` as minted (``ATU-XXXX-XXXX-XXXX``, ``ATU-TEST-XXXX-XXXX-XXXX``), however it was
    typed (any case, spaces and dashes anywhere), or ``None`` when it cannot be a voucher: its
    one form, which the lookup hashes."""
    squeezed = "".join(ch for ch in code.upper() if not ch.isspace() and ch not in "-\u2010\u2011")
    for marker in ("ATUTEST", "ATU"):
        if not squeezed.startswith(marker):
            continue
        rest = squeezed[len(marker) :]
        if len(rest) != _VOUCHER_CHARS or any(ch not in _ALPHABET for ch in rest):
            continue
        groups = [rest[i : i + 4] for i in range(0, _VOUCHER_CHARS, 4)]
        prefix = _STAGING_VOUCHER if marker == "ATUTEST" else "ATU"
        code = "-".join([prefix, *groups])
        # A live voucher never spells TEST first (``mint_voucher_code``): that is a staging
        # one cut short, not a live one.
        return None if code.startswith(_STAGING_VOUCHER + "-") and marker == "ATU" else code
    return None


def mint_redemption_code() -> str:
    """``RDM-XXXX-XXXX-XXXX-XXXX``: what a merchant redeems into its wallet."""
    return _groups("RDM", 4)


def normalize_code(code: str) -> str:
    return code.strip().upper()


def hash_code(code: str, pepper: bytes) -> str:
    return hmac.new(pepper, normalize_code(code).encode(), hashlib.sha256).hexdigest()
