"""The operator's treasury, looked after on a schedule (``gateway.sellers``): each
rail's float below its level told to the operator once (``treasury_alerts``, every minute), and
every rail reconciled against its provider on the reconciliation's schedule (``reconcile.check``,
``AITOPUP_RECONCILE_INTERVAL_SECONDS``), its result kept for the admin API and a mismatch told
once. Each is an ARQ cron job, so of several workers one runs it."""

from typing import Any

from gateway.sellers import reconcile, treasury_alerts
from gateway.values.clock import utcnow

from .deps import Deps

__all__ = ["treasury_alerts_job", "treasury_reconcile"]


async def treasury_alerts_job(ctx: dict[str, Any]) -> int:
    """ARQ cron ``treasury_alerts``: how many operator mails were written."""
    deps: Deps = ctx["deps"]
    mails = await treasury_alerts.tell_low(deps.db, deps.sealer, deps.settings, utcnow())
    deps.wake(mails)
    return len(mails)


async def treasury_reconcile(ctx: dict[str, Any]) -> int:
    """ARQ cron ``treasury_reconcile``: how many operator mails were written."""
    deps: Deps = ctx["deps"]
    mails = await reconcile.check(deps.db, deps.sealer, deps.settings, utcnow())
    deps.wake(mails)
    return len(mails)
