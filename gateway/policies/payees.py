"""Whom a payment to a seller pays, as a key's policy names it (``allowed_payees``) and counts it
(``per_payee_limit``): where the money goes, its destination (``Payer.destination``: x402's
network, asset and ``payTo``; MPP's seller profile), or a name its protocol gives that
destination (x402's ``payTo``); an origin only by what a person bound to it.

The url an agent states is a label, never a payee by itself: an origin in ``allowed_payees``
admits a destination only where a person bound that destination to that origin (approving a
payment to it, or the merchant's own list: ``sellers.bindings``), or where the gateway
reached the origin itself and met the seller's challenge there (``Payee.proven``: the origin
is then proven by TLS, not stated). Anything else the origin names is held for a person
(``admits``, ``judge``).

One canonical form for both sides, so a rule and a payment compare as text: an origin is
``scheme://host[:port]``, http or https, in lower case, its scheme's default port left out; a
name or a destination is kept as its protocol spells it, but each EVM address (``0x`` and 40
hex digits) in it, which every case spells alike, in lower case.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..store.models import MAX_DESTINATION
from ..values.code_names import Code
from ..values.outcome import ApiError

__all__ = ["MAX_PAYEE", "Admitted", "Payee", "admits", "canonical", "judge", "origin_of"]

MAX_PAYEE = MAX_DESTINATION  # characters of one entry of ``allowed_payees``: one destination
_EVM_IN = re.compile(r"(?<![0-9a-zA-Z])0x[0-9a-fA-F]{40}(?![0-9a-zA-Z])")
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
        return _EVM_IN.sub(lambda m: m.group().lower(), value)
    from ..values.urls import split_url

    parts = split_url(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{value[:40]!r}: an origin is scheme://host[:port], nothing more")
    return origin_of(value)


# How ``allowed_payees`` admits a payment: by its destination (or a name of it), by its origin
# alone (a destination bound to that origin only), or not at all (``None``).
Admitted = Literal["destination", "origin"] | None


def admits(allowed: Iterable[str], origin: str, destination: str, names: Iterable[str]) -> Admitted:
    """Whether ``allowed`` (canonical entries) names the payment's ``destination`` or one of the
    ``names`` its protocol gives it (``"destination"``), or only the ``origin`` (canonical) the
    payment states (``"origin"``: admitted only where that destination is bound to it)."""
    rules = frozenset(allowed)
    for name in (destination, *names):
        try:
            if canonical(name) in rules:
                return "destination"
        except ValueError:
            continue
    return "origin" if origin in rules else None


@dataclass(frozen=True, slots=True)
class Payee:
    """Whom a payment to a seller pays: where the money goes (``Payer.destination``), the names
    its protocol gives it (``Demand.payee_names``), and the origin of the resource paid for
    (canonical, ``payees.origin_of``), a label unless ``proven``: the gateway reached that
    origin itself and met the challenge there, so the destination counts as
    bound to it."""

    origin: str
    destination: str
    names: tuple[str, ...] = ()
    proven: bool = False


def judge(allowed: tuple[str, ...] | None, payee: Payee) -> bool:
    """``allowed_payees``' one rule for a payment to ``payee``: refused
    (``KEY_PAYEE_NOT_ALLOWED``) where it names neither its destination nor its origin; ``True``
    where it names the origin alone and the origin is not proven: the payment is then held
    unless a person bound that destination to that origin (``Judged.ask_bound``)."""
    if allowed is None:
        return False
    admitted = admits(allowed, payee.origin, payee.destination, payee.names)
    if admitted is None:
        raise ApiError(
            Code.KEY_PAYEE_NOT_ALLOWED,
            data={
                "payee": payee.origin,
                "destination": payee.destination,
                "names": list(payee.names),
                "allowed_payees": list(allowed),
            },
        )
    return admitted == "origin" and not payee.proven
