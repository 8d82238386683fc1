"""The order expiry sweep: pending checkouts past their ``expires_at`` expire and give their
coupon uses back.

Expiry is enforced where an order would be paid (the sandbox's Pay is refused from the instant it
expires, by the conditional UPDATE that pays it), so the sweep is not what keeps an expired order
from being paid: it is what returns coupon uses and shows the order as expired in the history
without waiting for anyone to look. A sweep rather than doing it lazily where orders are read:
nothing reads an abandoned order, and a use held by one would otherwise stay taken. A checkout
that finds its coupon's uses all held expires that coupon's due orders itself, so a limit is exact
between sweeps too.
"""

from typing import Any

from gateway.billing.orders import expire_due

from .delivery import Deps

__all__ = ["expire_orders"]


async def expire_orders(ctx: dict[str, Any]) -> int:
    """ARQ cron ``expire_orders``: how many orders expired."""
    deps: Deps = ctx["deps"]
    return await expire_due(deps.db)
