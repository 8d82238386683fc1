"""The reconciliation sweep: pending orders older than ``AITOPUP_RECONCILE_AFTER_SECONDS`` are
looked up at their channel's provider (every provider that can look up: Stripe's and each other
channel's) and settled by its answer (``gateway.billing.settling.reconcile``), so a paid order whose
notification never came is credited all the same, once; an agent's payment taken at the
provider but not credited here is found by its metadata and credited or refunded, once
(``gateway.protocols.registry.sweep``, each protocol's: MPP's ``gateway.protocols.mpp.strays``);
and so are the paid periods of every channel's subscriptions not paid yet, past due or past
their period's end whose report was lost (``gateway.billing.subscription_channels.sweep``); and
staging's sandbox subscriptions renew as each merchant's test clock passes their period's end
(``subscription_channels.renewals``)."""

from typing import Any

from gateway.billing.settling import reconcile
from gateway.billing.subscriptions import renewals as subscription_channels
from gateway.protocols import registry as protocols

from .deps import Deps

__all__ = ["reconcile_orders"]


async def reconcile_orders(ctx: dict[str, Any]) -> int:
    """ARQ cron ``reconcile_orders``: how many orders and subscription periods were credited."""
    deps: Deps = ctx["deps"]
    credited = 0
    for outcome in [
        *await reconcile.sweep(deps.db, deps.settings),
        *await protocols.sweep(deps.db, deps.settings),
    ]:
        if outcome.deliveries:
            deps.wake(outcome.deliveries)
        credited += outcome.data["result"] == "credited"
    for outcome in await subscription_channels.sweep(deps.db, deps.settings):
        if outcome.deliveries:
            deps.wake(outcome.deliveries)
        credited += outcome.data["credited"]
    # Staging's sandbox subscriptions renew as time passes, by each merchant's test clock.
    for outcome in await subscription_channels.renewals(deps.db):
        if outcome.deliveries:
            deps.wake(outcome.deliveries)
    return credited
