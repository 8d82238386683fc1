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

from datetime import timedelta
from typing import Any

from gateway.billing.orders import expire_due
from gateway.billing.wallet import grants
from gateway.holds import registry
from gateway.merchants import holds
from gateway.policies import thresholds
from gateway.values.clock import utcnow

from .deps import Deps

__all__ = ["budget_alerts", "expire_approvals", "expire_grants", "expire_orders"]


async def expire_orders(ctx: dict[str, Any]) -> int:
    """ARQ cron ``expire_orders``: how many orders expired."""
    deps: Deps = ctx["deps"]
    return await expire_due(deps.db)


async def expire_approvals(ctx: dict[str, Any]) -> int:
    """ARQ cron ``expire_approvals``: what every kind of hold holds past its window ends
    (``Hold.due``, ``Hold.expire``: a send refunded, ``topup.approval_expired``), each in its
    own transaction whose conditional UPDATE loses to a decision that got there first. The
    windows of what a key that has expired holds are closed first (``holds.close_expired``),
    and so are those held longer than today's window allows (``holds.close_overdue``). How
    many ended."""
    deps: Deps = ctx["deps"]
    now = utcnow()
    longest = timedelta(seconds=deps.settings.approval_ttl_seconds)
    async with deps.db.transaction() as conn:
        await holds.close_expired(conn, now)
        await holds.close_overdue(conn, now, longest)
    expired = 0
    for hold in registry.holds():
        for held_id in await hold.due(deps.db, now):
            deliveries = await hold.expire(deps.db, deps.sealer, held_id, now)
            if deliveries is None:
                continue
            deps.wake(deliveries)
            expired += 1
    return expired


async def expire_grants(ctx: dict[str, Any]) -> int:
    """ARQ cron ``expire_grants``: credit grants past their expiry (by their merchant's staging
    test clock, or the wall's) give up what is left, each with its entry and
    ``credit.expired``; a grant another sweep expired first is not found again. How many."""
    deps: Deps = ctx["deps"]
    swept = await grants.expire_due(deps.db, utcnow())
    deps.wake(swept.deliveries)
    return int(swept.data["expired"])


async def budget_alerts(ctx: dict[str, Any]) -> int:
    """ARQ cron ``budget_alerts``: the alerts of spend windows a gateway process made due but
    did not live to write (it writes them right after the payment), and those a give-back made
    due (``policies.thresholds``). How many owners' were written."""
    deps: Deps = ctx["deps"]
    written = 0
    for due in await thresholds.alerts_due(deps.db):
        deliveries = await thresholds.alert(deps.db, due, utcnow())
        if deliveries is None:  # the sending process, or another sweep, got there first
            continue
        deps.wake(deliveries)
        written += 1
    return written
