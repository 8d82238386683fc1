"""The Telegram bot's calls as a kind of the runner's (``TELEGRAM``): each row of the bot's
outbox (``gateway.telegram.calls``) is leased once due and made to the Bot API
(``gateway.telegram.api``); the common record makes it ``sent``, or due again on
``AITOPUP_MAIL_RETRY_SCHEDULE``'s delays, or ``failed`` past them. Logs name the call and its
method, never its parameters (a button's data decides) nor the token."""

import logging
from datetime import datetime
from typing import Any

from gateway import outbox
from gateway.telegram import alerts, api, calls
from gateway.values.settings import Settings

from .deps import Deps
from .kind import Bounds, RowKind

__all__ = ["TELEGRAM", "send", "telegram_alerts"]

log = logging.getLogger("aitopup.worker.telegram")

CONCURRENCY = 8  # calls in flight at once per worker process


def _bounds(settings: Settings) -> Bounds:
    return Bounds(concurrency=CONCURRENCY, share=max(1, CONCURRENCY // 4), lease_seconds=60)


async def send(deps: Deps, row: Any) -> str | None:
    """One try at a leased call: ``None`` once Telegram took it, else why not."""
    method, params = calls.opened(deps.sealer, row)
    try:
        await api.call(deps.settings, method, params)
    except api.BotApiError as exc:
        log.warning("telegram call failed", extra={"call_id": row.id, "error": str(exc)})
        return str(exc)[:300]
    return None


async def telegram_alerts(ctx: dict[str, Any]) -> int:
    """ARQ cron ``telegram_alerts``: linked chats told of their merchants' new level events
    (``gateway.telegram.alerts``); how many messages were written. Nothing without a bot."""
    deps: Deps = ctx["deps"]
    if deps.settings.telegram_bot_token is None:
        return 0
    written = await alerts.relay(deps.db, deps.sealer)
    deps.wake(written)
    return len(written)


def _sent(at: datetime) -> dict[str, Any]:
    return {"sent_at": at}


TELEGRAM = RowKind(
    name=outbox.TELEGRAM,
    queue=calls.QUEUE,
    handler=send,
    delays=lambda settings: settings.mail_retry_delays,
    bounds_of=_bounds,
    done=_sent,
)
