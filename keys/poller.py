"""Poller keys: ``wpk_<env>_<32 base62 chars>``, shown once, stored as HMAC-SHA256 under a pepper.
A poller key reads its one poller's events and nothing else, so it is never taken for an API
key: its prefix is its own."""

import hashlib
import hmac
import re
import secrets
import string
from typing import cast

from .apikey import ENVS, Env
from .errors import InvalidApiKey

__all__ = ["POLLER_KEY_PREFIX", "hash_poller_key", "mint_poller_key", "poller_key_env"]

POLLER_KEY_PREFIX = "wpk_"
_BASE62 = string.digits + string.ascii_letters
_PATTERN = re.compile(r"wpk_(staging|live)_[0-9A-Za-z]{32}")


def mint_poller_key(env: Env) -> str:
    if env not in ENVS:
        raise InvalidApiKey("unknown environment")
    return f"wpk_{env}_" + "".join(secrets.choice(_BASE62) for _ in range(32))


def poller_key_env(raw: str) -> Env:
    """The key's environment; ``InvalidApiKey`` for anything not shaped as a poller key."""
    match = _PATTERN.fullmatch(raw)
    if match is None:
        raise InvalidApiKey("not a wpk_<env>_<32 base62> key")
    return cast(Env, match.group(1))


def hash_poller_key(raw: str, pepper: bytes) -> str:
    """The only form a poller key is stored in; another domain than an API key's hash."""
    return hmac.new(pepper, b"poller\0" + raw.encode(), hashlib.sha256).hexdigest()
