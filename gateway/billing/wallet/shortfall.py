"""What a send refused for balance tells its caller: how much is missing and where to fund it.

Computed on the refusal path only (the send's plan wrote nothing), inside the send's own driver
transaction: two reads by key and a small table, no awaiting anything else, so it keeps the hot
path's rule (``Database.run``). The data goes into the refusal's ``Outcome``, and so into what an
idempotency key replays: the replay says what the wallet held when the send was refused.
"""

from typing import Any

from sqlalchemy import bindparam, select

from ...store.models import Pack, Wallet, table_of
from ...store.raw import Raw, Statement
from ...values.public_base import base_url
from ..service import TOPUP_INFO_PATH, WALLET_PATH

__all__ = ["CHECKOUT_PATH", "RETRY", "shortfall_data"]

_W = table_of(Wallet)
_P = table_of(Pack)

_BALANCE = Statement.of(select(_W.c.balance_cents).where(_W.c.id == bindparam("wallet_id")))
_PACKS = Statement.of(
    select(_P.c.id, _P.c.name, _P.c.price_cents, _P.c.credit_cents, _P.c.currency)
    .where(_P.c.active.is_(True))
    .order_by(_P.c.sort_order, _P.c.id)
)


async def shortfall_data(
    tx: Raw, wallet_id: str, required_cents: int, public_base_url: str | None
) -> dict[str, Any]:
    """``data`` of ``4001``: the balance, what the send needed, the difference, how to retry
    (``RETRY``: a fresh idempotency key once funded) and where to fund it: the dashboard's
    wallet page (``wallet_url``, for a person), the top-up info route, the checkout endpoint
    (``checkout_url``: ``POST`` it with an API key for a link to pay; not a page), the packs
    whose credit covers the shortfall (cheapest first). Links are absolute, on the public base
    (``mail.links.base_url``), never on a request's host."""
    row = await tx.fetchrow(_BALANCE, {"wallet_id": wallet_id})
    balance = int(row["balance_cents"]) if row is not None else 0
    short = max(required_cents - balance, 0)
    packs = [
        {
            "id": p["id"],
            "name": p["name"],
            "price_cents": int(p["price_cents"]),
            "credit_cents": int(p["credit_cents"]),
            "currency": p["currency"],
        }
        for p in await tx.fetch(_PACKS, {})
        if int(p["credit_cents"]) >= short
    ]
    packs.sort(key=lambda p: (p["price_cents"], p["id"]))
    base = base_url(public_base_url)
    return {
        "balance_cents": balance,
        "required_cents": required_cents,
        "shortfall_cents": short,
        "retry": RETRY,
        "fund": {
            "wallet_url": base + WALLET_PATH,
            "topup_info_url": base + TOPUP_INFO_PATH,
            "checkout_url": base + CHECKOUT_PATH,
            "packs": packs,
        },
    }


CHECKOUT_PATH = "/api/public/v1/billing/checkout"

RETRY = (
    "This refusal is kept under its idempotency key: sending again with the same key answers "
    "this 402 again, even once the wallet is funded. Fund the wallet (a person opens "
    "fund.wallet_url; or POST fund.checkout_url, the API endpoint, or call create_checkout, for "
    "a link a person pays), then send again with a fresh idempotency key. Or pay it yourself: "
    "the same request sent again with a credential for this 402's Payment challenge "
    "(WWW-Authenticate; over MCP, the -32042 error's data) is paid once and answered by the "
    "request, not by this refusal."
)
