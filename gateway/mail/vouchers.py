"""What a delivered top-up gives its recipient, read through one function for the e-mail and
the recipient's page alike."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from keys import Sealer

from ..store.models import Fulfilment, Topup, table_of

__all__ = ["DEFAULT_PROVIDER", "Redeemable", "redeemable", "topups_with_provider"]

_T = table_of(Topup)
_F = table_of(Fulfilment)

DEFAULT_PROVIDER = "voucher"  # our ``ATU-…`` voucher


@dataclass(frozen=True, slots=True)
class Redeemable:
    provider: str  # voucher, newapi, openrouter: which "how to redeem" applies
    code: str | None  # what the recipient redeems (our voucher, New API's code), or a key


def redeemable(sealer: Sealer, topup: Any) -> Redeemable:
    """The provider of top-up row ``topup`` and what its recipient redeems, opened from its
    seal (``None`` before delivery). A row without a provider is the built-in voucher's."""
    provider = getattr(topup, "provider", None) or DEFAULT_PROVIDER
    sealed = topup.voucher_sealed
    code = sealer.open(sealed, context=topup.id) if sealed else None
    return Redeemable(provider, code)


def topups_with_provider() -> Select[Any]:
    """Top-up rows, each with ``provider``: the upstream that fulfils it (``fulfilments``), or
    null for the built-in voucher. The e-mail and the recipient's page read top-ups through it,
    so ``redeemable`` knows which "how to redeem" applies."""
    return select(_T, _F.c.provider).select_from(_T.outerjoin(_F, _F.c.topup_id == _T.c.id))
