"""``balance.low`` and ``balance.recovered`` in Telegram: each linked chat is told of its
merchant's crossings, down and back.

The events are the truth (``ledger.alerts`` writes one per crossing, whatever moved the money),
so the bot relays them rather than deciding again what a crossing is: the worker's periodic
``relay`` reads, for each linked chat, the merchant's balance events after the last one
it told that chat of (``telegram_chats.alerted_through``; event ids sort by time) and writes a
message for each to the bot's outbox. Moving a chat's mark is one conditional UPDATE from the
mark it read, before its messages are written in the same transaction, so two workers relaying
at once tell a chat of an event once.
"""

import json
from datetime import datetime

from sqlalchemy import select, text, update

from keys import Sealer

from ..store.db import Database
from ..store.models import BALANCE_LOW_EVENTS, Event, MerchantUser, TelegramChat, table_of
from ..values.clock import utcnow
from ..values.money import money
from . import calls

__all__ = ["BATCH", "relay"]

_C = table_of(TelegramChat)
_E = table_of(Event)
_MU = table_of(MerchantUser)

BALANCE_LOW = "balance.low"
RECOVERED = "balance.recovered"
BATCH = 20  # events told a chat per run at most; the next run goes on from there
CHATS = 500  # chats one run relays to at most


def _words(event: object, payload: str) -> str:
    body = json.loads(payload)
    data = body.get("data", {})
    env = getattr(event, "env", "")
    balance = data.get("balance_cents")
    threshold = data.get("low_balance_threshold_cents", data.get("threshold_cents"))
    recovered = body.get("type") == RECOVERED
    if not isinstance(balance, int) or not isinstance(threshold, int):
        return f"Balance recovered ({env})." if recovered else f"Balance low ({env})."
    if recovered:
        return (
            f"Balance recovered ({env}): {money(balance)}, back at or above the alert line of "
            f"{money(threshold)}."
        )
    return f"Balance low ({env}): {money(balance)}, below the alert line of {money(threshold)}."


async def relay(db: Database, sealer: Sealer, *, now: datetime | None = None) -> list[str]:
    """Tell each linked chat (of a member still on its merchant) of the merchant's
    ``balance.low`` events it was not told of; the calls to wake for."""
    now = now or utcnow()
    written: list[str] = []
    async with db.read() as conn:
        chats = (
            await conn.execute(
                select(_C)
                .join(
                    _MU, (_MU.c.merchant_id == _C.c.merchant_id) & (_MU.c.user_id == _C.c.user_id)
                )
                .order_by(_C.c.id)
                .limit(CHATS)
            )
        ).all()
    for chat in chats:
        async with db.transaction() as conn:
            events = (
                await conn.execute(
                    select(_E.c.id, _E.c.env, _E.c.payload)
                    .where(
                        _E.c.merchant_id == chat.merchant_id,
                        # As the partial index's predicate writes it: bound, the type would
                        # not prove it, and a prepared statement's generic plan could not use it.
                        text(BALANCE_LOW_EVENTS),
                        _E.c.id > chat.alerted_through,
                    )
                    .order_by(_E.c.id)
                    .limit(BATCH)
                )
            ).all()
            if not events:
                continue
            moved = await conn.execute(
                update(_C)
                .where(_C.c.id == chat.id, _C.c.alerted_through == chat.alerted_through)
                .values(alerted_through=events[-1].id)
            )
            if moved.rowcount != 1:
                continue  # another run told it meanwhile
            for event in events:
                written.append(
                    await calls.write(
                        conn,
                        sealer,
                        merchant_id=chat.merchant_id,
                        method="sendMessage",
                        params={"chat_id": chat.chat_id, "text": _words(event, event.payload)},
                        now=now,
                    )
                )
    return written
