"""API keys: ``ak_<env>_<32 base62 chars>``, shown once, stored as HMAC-SHA256 under a pepper."""

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from typing import Literal, cast

from .errors import InvalidApiKey

__all__ = ["ENVS", "ApiKey", "Env", "hash_api_key", "mint_api_key", "parse_api_key"]

Env = Literal["staging", "live"]
ENVS: tuple[Env, ...] = ("staging", "live")

_BASE62 = string.digits + string.ascii_letters
_BODY_LEN = 32
_PATTERN = re.compile(r"ak_(staging|live)_([0-9A-Za-z]{32})")
# Enough of the body to tell keys apart in a listing, far too little to guess the rest.
_DISPLAY_BODY_CHARS = 4


@dataclass(frozen=True, slots=True)
class ApiKey:
    env: Env
    raw: str

    @property
    def display_prefix(self) -> str:
        return f"ak_{self.env}_{self.raw[-_BODY_LEN:][:_DISPLAY_BODY_CHARS]}"

    def __repr__(self) -> str:  # never print the whole key
        return f"ApiKey(env={self.env!r}, prefix={self.display_prefix!r})"


def mint_api_key(env: Env) -> ApiKey:
    if env not in ENVS:
        raise InvalidApiKey("unknown environment")
    body = "".join(secrets.choice(_BASE62) for _ in range(_BODY_LEN))
    return ApiKey(env=env, raw=f"ak_{env}_{body}")


def parse_api_key(raw: str) -> ApiKey:
    match = _PATTERN.fullmatch(raw)
    if match is None:
        raise InvalidApiKey("not an ak_<env>_<32 base62> key")
    return ApiKey(env=cast(Env, match.group(1)), raw=raw)


def hash_api_key(key: ApiKey, pepper: bytes) -> str:
    """The only form a key is stored in: a peppered HMAC, looked up by equality."""
    return hmac.new(pepper, key.raw.encode(), hashlib.sha256).hexdigest()
