"""Level events in Telegram: each linked chat is told of its merchant's crossings, down and
back, of the wallet's low-balance levels (``balance.low``, ``balance.recovered``) and of a key's
or a budget's spend levels (``key.budget_threshold``, ``key.budget_recovered``,
``budget.threshold``, ``budget.recovered``).

The events are the truth (``ledger.alerts`` and ``policies.thresholds`` write one per crossing,
whatever moved the money), so the bot relays them rather than deciding again what a crossing
is: the worker's periodic ``relay`` reads, for each linked chat, the merchant's relayed events
(``RELAYED_TYPES``) after the last one it told that chat of (``telegram_chats.alerted_through``;
event ids sort by time) and writes a message for each to the bot's outbox, in the words of the
person who linked the chat (their language, else their merchant's; ``WORDS``: one sentence
builder a type). Moving a chat's mark is one conditional UPDATE from the mark it read, before
its messages are written in the same transaction, so two workers relaying at once tell a chat
of an event once.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..ledger.alerts import BALANCE_LOW, BALANCE_RECOVERED
from ..policies.thresholds import (
    BUDGET_RECOVERED,
    BUDGET_THRESHOLD,
    KEY_RECOVERED,
    KEY_THRESHOLD,
)
from ..store.engine import Database
from ..store.models import (
    RELAYED_EVENTS,
    RELAYED_TYPES,
    ApiKeyRow,
    Budget,
    Event,
    Merchant,
    MerchantUser,
    TelegramChat,
    User,
    table_of,
)
from ..values.clock import utcnow
from ..values.languages import Catalogues, Reading, choose, money_in
from ..values.marking import marked
from . import calls

__all__ = ["BATCH", "WORDS", "Told", "relay", "words"]

_C = table_of(TelegramChat)
_E = table_of(Event)
_MU = table_of(MerchantUser)
_MER = table_of(Merchant)
_U = table_of(User)
_K = table_of(ApiKeyRow)
_B = table_of(Budget)

BATCH = 20  # events told a chat per run at most; the next run goes on from there
CHATS = 500  # chats one run relays to at most


@dataclass(frozen=True, slots=True)
class Told:
    """A relayed event as a chat is told of it: its type, environment and ``data``, and the
    name of the key or budget it is of (its id when it has none, or is gone)."""

    type: str
    env: str
    data: Mapping[str, Any]
    name: str = ""


def _cents(data: Mapping[str, Any], *names: str) -> int | None:
    found = next((data[n] for n in names if n in data), None)
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def _balance(told: Told, reading: Reading) -> str:
    balance = _cents(told.data, "balance_cents")
    # The level crossed; an event written before it had that name carries it as its first.
    threshold = _cents(told.data, "threshold_cents", "low_balance_threshold_cents")
    recovered = told.type == BALANCE_RECOVERED
    if balance is None or threshold is None:
        bare = (
            marked("Balance recovered (%(env)s).")
            if recovered
            else marked("Balance low (%(env)s).")
        )
        return reading.gettext(bare) % {"env": reading.gettext(told.env)}
    line = (
        marked(
            "Balance recovered (%(env)s): %(balance)s, back at or above the alert line of "
            "%(threshold)s."
        )
        if recovered
        else marked("Balance low (%(env)s): %(balance)s, below the alert line of %(threshold)s.")
    )
    return reading.gettext(line) % {
        "env": reading.gettext(told.env),
        "balance": money_in(balance, reading.language),
        "threshold": money_in(threshold, reading.language),
    }


# A window's event: (reached, back under), each with its words when ``data`` lacks a figure.
_WINDOW_LINES: dict[str, tuple[str, str]] = {
    KEY_THRESHOLD: (
        marked(
            "Key %(name)s (%(env)s) reached %(percent)s of its limit: %(spent)s of %(limit)s spent."
        ),
        marked("Key %(name)s (%(env)s) reached an alert level of its limit."),
    ),
    KEY_RECOVERED: (
        marked(
            "Key %(name)s (%(env)s) is back under %(percent)s of its limit: %(spent)s of "
            "%(limit)s spent."
        ),
        marked("Key %(name)s (%(env)s) is back under the alert levels of its limit."),
    ),
    BUDGET_THRESHOLD: (
        marked(
            "Budget %(name)s (%(env)s) reached %(percent)s of its limit: %(spent)s of "
            "%(limit)s spent."
        ),
        marked("Budget %(name)s (%(env)s) reached an alert level of its limit."),
    ),
    BUDGET_RECOVERED: (
        marked(
            "Budget %(name)s (%(env)s) is back under %(percent)s of its limit: %(spent)s of "
            "%(limit)s spent."
        ),
        marked("Budget %(name)s (%(env)s) is back under the alert levels of its limit."),
    ),
}


def _window(told: Told, reading: Reading) -> str:
    full, bare = _WINDOW_LINES[told.type]
    percent = _cents(told.data, "threshold_percent")
    spent, limit = _cents(told.data, "spent_cents"), _cents(told.data, "limit_cents")
    if percent is None or spent is None or limit is None:
        return reading.gettext(bare) % {"name": told.name, "env": reading.gettext(told.env)}
    return reading.gettext(full) % {
        "name": told.name,
        "env": reading.gettext(told.env),
        "percent": f"{percent}%",  # a figure of the sentence: no stray % in the catalogue
        "spent": money_in(spent, reading.language),
        "limit": money_in(limit, reading.language),
    }


# Each relayed type's words: a type the index holds and nothing here says would be told never.
WORDS: dict[str, Callable[[Told, Reading], str]] = {
    BALANCE_LOW: _balance,
    BALANCE_RECOVERED: _balance,
    **dict.fromkeys(_WINDOW_LINES, _window),
}
assert set(WORDS) == set(RELAYED_TYPES), "every relayed event has its words"


def words(told: Told, reading: Reading) -> str:
    """What a chat is told of ``told``, in ``reading``'s language."""
    return WORDS[told.type](told, reading)


# Where a window's event names whose it is, and where that name is kept.
_OWNERS = {
    KEY_THRESHOLD: ("key_id", _K),
    KEY_RECOVERED: ("key_id", _K),
    BUDGET_THRESHOLD: ("budget_id", _B),
    BUDGET_RECOVERED: ("budget_id", _B),
}


async def _told(conn: AsyncConnection, events: Sequence[Any]) -> list[Told]:
    """The events as told, each window's with its key's or budget's name, read at once."""
    bodies = [json.loads(e.payload) for e in events]
    wanted: dict[Any, set[str]] = {}
    for event, body in zip(events, bodies, strict=True):
        owner = _OWNERS.get(event.type)
        if owner is not None and isinstance(body.get("data", {}).get(owner[0]), str):
            wanted.setdefault(owner[1], set()).add(body["data"][owner[0]])
    names: dict[str, str] = {}
    for table, ids in wanted.items():
        rows = await conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(ids)))
        names.update({r.id: r.name for r in rows if r.name})
    found: list[Told] = []
    for event, body in zip(events, bodies, strict=True):
        data = body.get("data", {})
        owner = _OWNERS.get(event.type)
        of = str(data.get(owner[0], "")) if owner is not None else ""
        found.append(Told(event.type, event.env, data, names.get(of, of)))
    return found


async def relay(
    db: Database,
    sealer: Sealer,
    *,
    now: datetime | None = None,
    catalogues: Catalogues | None = None,
) -> list[str]:
    """Tell each linked chat (of a member still on its merchant) of the merchant's relayed
    events it was not told of, in the words of the member who linked it; the calls to wake
    for."""
    now = now or utcnow()
    catalogues = catalogues or Catalogues.load()
    written: list[str] = []
    async with db.read() as conn:
        chats = (
            await conn.execute(
                select(_C, _U.c.language, _MER.c.language.label("merchant_language"))
                .join(
                    _MU, (_MU.c.merchant_id == _C.c.merchant_id) & (_MU.c.user_id == _C.c.user_id)
                )
                .join(_U, _U.c.id == _C.c.user_id)
                .join(_MER, _MER.c.id == _C.c.merchant_id)
                .order_by(_C.c.id)
                .limit(CHATS)
            )
        ).all()
    for chat in chats:
        # Their own language, else their merchant's, else English: as ``bot.reading_of``.
        reading = catalogues.reading(choose(person=chat.language, merchant=chat.merchant_language))
        async with db.transaction() as conn:
            events = (
                await conn.execute(
                    select(_E.c.id, _E.c.env, _E.c.type, _E.c.payload)
                    .where(
                        _E.c.merchant_id == chat.merchant_id,
                        # As the partial index's predicate writes it: bound, the type would
                        # not prove it, and a prepared statement's generic plan could not use it.
                        text(RELAYED_EVENTS),
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
            for told in await _told(conn, events):
                written.append(
                    await calls.write(
                        conn,
                        sealer,
                        merchant_id=chat.merchant_id,
                        method="sendMessage",
                        params={"chat_id": chat.chat_id, "text": words(told, reading)},
                        now=now,
                    )
                )
    return written
