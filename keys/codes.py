"""Human-typed codes: top-up vouchers and admin-issued redemption codes.

Both are bearer secrets, so they use an unambiguous alphabet and are hashed with a pepper wherever
only equality matters.
"""

import hashlib
import hmac
import secrets

__all__ = ["hash_code", "mint_redemption_code", "mint_voucher_code", "normalize_code"]

# Crockford-style: no 0/O, 1/I/L, so a code read aloud survives.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _groups(prefix: str, groups: int) -> str:
    # One draw for the whole code (uniform over every code of this length), not one per
    # character: each draw is a system call.
    number = secrets.randbelow(len(_ALPHABET) ** (4 * groups))
    chars = []
    for _ in range(4 * groups):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    parts = ("".join(chars[i : i + 4]) for i in range(0, len(chars), 4))
    return "-".join([prefix, *parts])


def mint_voucher_code() -> str:
    """``ATU-XXXX-XXXX-XXXX``: what the recipient redeems on the platform."""
    return _groups("ATU", 3)


def mint_redemption_code() -> str:
    """``RDM-XXXX-XXXX-XXXX-XXXX``: what a merchant redeems into its wallet."""
    return _groups("RDM", 4)


def normalize_code(code: str) -> str:
    return code.strip().upper()


def hash_code(code: str, pepper: bytes) -> str:
    return hmac.new(pepper, normalize_code(code).encode(), hashlib.sha256).hexdigest()
