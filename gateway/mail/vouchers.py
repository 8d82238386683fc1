"""What a delivered top-up gives its recipient, read through one function for the e-mail and
the recipient's page alike."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..store.models import Fulfilment, Topup, table_of
from ..values.marking import marked

__all__ = [
    "DEFAULT_PROVIDER",
    "MASKED",
    "Redeemable",
    "masked",
    "redeemable",
    "redeemable_provider",
    "topups_with_provider",
    "upstream_given",
]

_T = table_of(Topup)
_F = table_of(Fulfilment)

DEFAULT_PROVIDER = "voucher"  # our ``ATU-…`` voucher
# What stands for a code, or a link to a page that shows one, where the reader may not see it
# (``Caller.sees_codes``).
MASKED = marked("[hidden: it reaches the recipient alone]")  # in the mail's language where shown


@dataclass(frozen=True, slots=True)
class Redeemable:
    provider: str  # voucher, newapi, openrouter: which "how to redeem" applies
    code: str | None  # what the recipient redeems (our voucher, New API's code), or a key


def redeemable_provider(topup: Any) -> str:
    """Who fulfilled top-up row ``topup``: its upstream, or the built-in voucher."""
    return getattr(topup, "provider", None) or DEFAULT_PROVIDER


def redeemable(sealer: Sealer, topup: Any) -> Redeemable:
    """The provider of top-up row ``topup`` and what its recipient redeems, opened from its
    seal (``None`` before delivery). A row without a provider is the built-in voucher's."""
    provider = redeemable_provider(topup)
    sealed = topup.voucher_sealed
    code = sealer.open(sealed, context=topup.id) if sealed else None
    return Redeemable(provider, code)


def topups_with_provider() -> Select[Any]:
    """Top-up rows, each with ``provider``: the upstream that fulfils it (``fulfilments``), or
    null for the built-in voucher. The e-mail and the recipient's page read top-ups through it,
    so ``redeemable`` knows which "how to redeem" applies; ``fulfil_reference``: the name the
    upstream knows it by."""
    return select(_T, _F.c.provider, _F.c.reference.label("fulfil_reference")).select_from(
        _T.outerjoin(_F, _F.c.topup_id == _T.c.id)
    )


def masked(given: Redeemable) -> Redeemable:
    """``given`` as a reader who may not see its code sees it: the code hidden."""
    if given.code is None:
        return given
    return Redeemable(given.provider, MASKED)


async def upstream_given(
    conn: AsyncConnection, merchant_id: str, env: str, email: str, upto: datetime | None
) -> bool:
    """Whether a page of ``email``'s sends until ``upto`` would show an upstream's code (or
    key): a link to it is worth that code."""
    stmt = (
        select(_T.c.id)
        .join(_F, _F.c.topup_id == _T.c.id)
        .where(_T.c.merchant_id == merchant_id, _T.c.env == env, _T.c.recipient_email == email)
        .limit(1)
    )
    if upto is not None:
        stmt = stmt.where(_T.c.created_at <= upto)
    return (await conn.execute(stmt)).first() is not None
