"""The bot's calls to the Bot API as an outbox: each a row of the common queue shape
(``store.queue``), written in the transaction of what causes it and sent by the worker
(``worker.telegram``), so no request waits on Telegram and a call lost to a crash is sent once
its lease lapses. A row holds its method and parameters sealed: a button's callback data is a
credential (``approvals.links``)."""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..outbox import TELEGRAM_PREFIX
from ..store.models import TelegramMessage, table_of
from ..store.queue import Queue
from ..values.clock import new_id

__all__ = ["DONE", "FAILED", "QUEUE", "QUEUED", "opened", "write"]

_G = table_of(TelegramMessage)
QUEUED, DONE, FAILED = "queued", "sent", "failed"
QUEUE = Queue(_G, due=QUEUED, done=DONE, failed=FAILED)
# What Telegram takes of a message's text (4096 characters); ours are shorter, a bound all the
# same on what a merchant's name or an address can make of one.
TEXT_CAP = 4096


async def write(
    conn: AsyncConnection,
    sealer: Sealer,
    *,
    merchant_id: str | None,
    method: str,
    params: dict[str, Any],
    now: datetime,
) -> str:
    """A call of ``method`` with ``params``, due now; its id, to wake the workers for."""
    if "text" in params:
        params = {**params, "text": str(params["text"])[:TEXT_CAP]}
    call_id = new_id(TELEGRAM_PREFIX[:-1])
    call = json.dumps({"method": method, "params": params})
    await conn.execute(
        insert(_G).values(
            id=call_id,
            merchant_id=merchant_id,
            call_sealed=sealer.seal(call, context=call_id),
            status=QUEUED,
            attempts=0,
            generation=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return call_id


def opened(sealer: Sealer, row: Any) -> tuple[str, dict[str, Any]]:
    """A row's method and parameters."""
    call = json.loads(sealer.open(row.call_sealed, context=row.id))
    return str(call["method"]), dict(call["params"])
