"""OAuth credentials: opaque bearer strings, shown once, stored as HMAC-SHA256 under a pepper.

``oat_<env>_…`` an access token and ``ort_<env>_…`` a refresh token (the environment of the
consent they act for, readable at a glance as a key's is), ``oac_…`` an authorization code and
``ocs_…`` a confidential app's client secret. Each body is 43 base62 characters (256 bits).
"""

import hashlib
import hmac
import re
import secrets
import string
from typing import Literal

from .apikey import ENVS, Env
from .errors import KeysError

__all__ = [
    "CredentialKind",
    "InvalidCredential",
    "credential_kind",
    "hash_credential",
    "mint_credential",
]

CredentialKind = Literal["oat", "ort", "oac", "ocs"]
# Which kinds name the environment they act in.
_WITH_ENV: frozenset[str] = frozenset({"oat", "ort"})
_KINDS: dict[str, CredentialKind] = {"oat": "oat", "ort": "ort", "oac": "oac", "ocs": "ocs"}
_ENVS: dict[str, Env] = {env: env for env in ENVS}
_BASE62 = string.digits + string.ascii_letters
_BODY_LEN = 43
_PATTERN = re.compile(r"(oat|ort)_(staging|live)_[0-9A-Za-z]{43}|(oac|ocs)_[0-9A-Za-z]{43}")


class InvalidCredential(KeysError):
    """Not shaped as any OAuth credential of ours."""


def mint_credential(kind: CredentialKind, env: Env | None = None) -> str:
    """A fresh credential of ``kind``; ``env`` for tokens (``oat``, ``ort``), nothing else."""
    if (kind in _WITH_ENV) != (env is not None) or (env is not None and env not in ENVS):
        raise InvalidCredential("tokens name their environment; codes and secrets do not")
    body = "".join(secrets.choice(_BASE62) for _ in range(_BODY_LEN))
    return f"{kind}_{env}_{body}" if env is not None else f"{kind}_{body}"


def credential_kind(raw: str) -> tuple[CredentialKind, Env | None]:
    """The kind and environment of ``raw``, or ``InvalidCredential``."""
    if _PATTERN.fullmatch(raw) is None:
        raise InvalidCredential("not an OAuth credential")
    kind, _, rest = raw.partition("_")
    env = _ENVS[rest.partition("_")[0]] if kind in _WITH_ENV else None
    return _KINDS[kind], env


def hash_credential(raw: str, pepper: bytes) -> str:
    """The only form a credential is stored in: a peppered HMAC, looked up by equality. The
    kind is part of what is hashed, so a code can never be looked up as a token."""
    return hmac.new(pepper, b"oauth\0" + raw.encode(), hashlib.sha256).hexdigest()
