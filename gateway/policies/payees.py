"""Whom a payment to a seller pays, as a key's policy names it (``allowed_payees``) and counts it
(``per_payee_limit``): the origin of the seller's resource, or a name its protocol gives the
payee (MPP's realm, x402's ``payTo``).

One canonical form for both sides, so a rule and a payment compare as text: an origin is
``scheme://host[:port]``, http or https, in lower case, its scheme's default port left out; a
name is kept as its protocol spells it, but an EVM address (``0x`` and 40 hex digits), which
every case spells alike, in lower case.
"""

import re
from collections.abc import Iterable

__all__ = ["MAX_PAYEE", "admits", "canonical", "origin_of"]

MAX_PAYEE = 255  # characters of one entry of ``allowed_payees``
_EVM = re.compile(r"0x[0-9a-fA-F]{40}")
_DEFAULT_PORT = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """The origin of an absolute http(s) URL, canonical; ``ValueError`` for any other."""
    from ..values.urls import split_url  # httpx's parser: loaded by what pays, not every policy

    parts = split_url(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORT or not host:
        raise ValueError("an absolute http or https URL")
    netloc = f"[{host}]" if ":" in host else host
    port = parts.port
    return f"{scheme}://{netloc}" + ("" if port in (None, _DEFAULT_PORT[scheme]) else f":{port}")


def canonical(value: str) -> str:
    """An entry of ``allowed_payees`` in its canonical form, or ``ValueError``: an origin (no
    path but ``/``, no query, fragment or credentials), or a name of one line with no space."""
    if not value or len(value) > MAX_PAYEE:
        raise ValueError(f"a payee is 1 to {MAX_PAYEE} characters")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError(f"{value[:40]!r}: a payee holds no space or control character")
    if "://" not in value:
        return value.lower() if _EVM.fullmatch(value) else value
    from ..values.urls import split_url

    parts = split_url(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{value[:40]!r}: an origin is scheme://host[:port], nothing more")
    return origin_of(value)


def admits(allowed: Iterable[str], origin: str, names: Iterable[str]) -> bool:
    """Whether ``allowed`` (canonical entries) names the payment's ``origin`` (canonical) or one
    of the ``names`` its protocol gives the payee."""
    rules = frozenset(allowed)
    if origin in rules:
        return True
    for name in names:
        try:
            if canonical(name) in rules:
                return True
        except ValueError:
            continue
    return False
