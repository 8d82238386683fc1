"""What every provider's try is given and gives back, and what it says of itself: its settings'
model, what of them is saved, and its fields on the dashboard's form."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import httpx

from keys import Sealer

from ...store.engine import Database
from ...values.settings import Settings
from ..upstream import Upstream

__all__ = [
    "CodeStates",
    "FormField",
    "FormLink",
    "KeyFigures",
    "Made",
    "ReadsCodes",
    "ReadsFigures",
    "Saved",
    "Try",
]


@dataclass(frozen=True, slots=True)
class Try:
    """One try of a top-up's upstream work: the top-up (``topup``, its row), our reference
    upstream, the try's number (1 is the send's own), and what calling out needs."""

    db: Database
    sealer: Sealer
    settings: Settings
    upstream: Upstream
    http: httpx.AsyncClient  # the top-up's environment's checked client
    topup: Any
    reference: str
    number: int
    now: Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Made:
    """What the top-up's ``voucher_code`` is (New API's code, or our voucher where the upstream's
    credential reaches the recipient alone), and our reference upstream."""

    voucher: str
    reference: str


@dataclass(frozen=True, slots=True)
class Saved:
    """A provider's settings as the store keeps them: its address, its credential (``None``:
    keep the one saved, which the body's ``secret_field`` omitted), the account it acts as and
    its quota a dollar, and the allowance of the keys it makes for recipients (their limit's
    reset, their days until expiry), where it has them."""

    base_url: str
    secret: str | None
    secret_field: str
    account: str | None = None
    quota_per_usd: int | None = None
    limit_reset: str | None = None
    key_expires_after_days: int | None = None


@dataclass(frozen=True, slots=True)
class FormField:
    """One box of a provider's part of the Fulfilment form. ``name`` is the form's (unique over
    every provider), ``key`` the settings' field it fills; ``label`` and ``hint`` are marked,
    said in the reader's words. A ``secret`` is never shown again; a ``whole`` number is sent
    as one. ``options``: the field is a choice of these (value, marked label); the empty value
    leaves the setting unset."""

    name: str
    key: str
    label: str
    hint: str = ""
    type: str = "text"
    attrs: str = ""
    secret: bool = False
    whole: bool = False
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FormLink:
    """A link of a provider's part of the form, after its field ``after`` (``None``: after the
    last). ``href`` is absolute; a ``path`` is on the saved address, and shown once one is."""

    text: str
    href: str = ""
    path: str = ""
    tail: str = ""
    after: str | None = None


class CodeStates(Protocol):
    """One upstream's reads of the codes it made: a code's state (``spent``, ``unused``,
    ``disabled``; ``None``: unknown there) by our reference and the code."""

    async def code_state(self, name: str, code: str) -> str | None: ...


@runtime_checkable
class ReadsCodes(Protocol):
    """A provider whose credit is a code the recipient redeems upstream, and whose state it
    can read (``recipients.redeemed``: the recipient's page marks a code spent there). One that
    offers no such read is asked nothing."""

    def code_states(self, upstream: Upstream, http: httpx.AsyncClient) -> CodeStates:
        """The reads of ``upstream``'s codes, on ``http``."""
        ...


@dataclass(frozen=True, slots=True)
class KeyFigures:
    """What an upstream says a recipient's key spent, in cents: ``used`` in its limit's period
    (today, this week or month when the limit resets; else ever), rounded up; ``left`` of its
    limit, rounded down (never below zero), so neither flatters the recipient; ``limit`` as set
    (``None``: none)."""

    used_cents: int
    limit_cents: int | None
    left_cents: int | None
    limit_reset: str | None
    expires_at: datetime | None
    disabled: bool


@runtime_checkable
class ReadsFigures(Protocol):
    """A provider whose credit is a key per recipient, whose spending it can read (the
    recipient's page shows it, ``upstreams.allowances``). One that offers no such read is asked
    nothing."""

    async def key_figures(
        self, upstream: Upstream, http: httpx.AsyncClient, key_hash: str, cap: int
    ) -> KeyFigures:
        """The key ``key_hash`` as ``upstream`` says it is now, on ``http``, reading at most
        ``cap`` bytes of the answer; raises ``UpstreamError`` if it cannot say."""
        ...
