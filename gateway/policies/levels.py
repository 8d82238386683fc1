"""When a level told is told again: the one rule of every level a merchant hears of, a wallet's
low-balance levels (``ledger.alerts``) and a key's or a budget's spend levels
(``policies.thresholds``), and so of the Telegram messages that relay them.

A level told re-arms only after a real recovery: the balance back a margin above it (a wallet),
or the spend a margin under it (a window), the margin ``MARGIN_PERCENT`` of the level, at least
a cent and at most ``MARGIN_MOST_CENTS``. A change that goes back and forth across the level by
less (an app's one-cent charge and its refund, forty times) tells it once. And a merchant's
recoveries, which re-arm its levels, are at most ``RECOVERIES_PER_HOUR`` an hour in an
environment (``hourly``): past it the level stays told, with no ``…recovered`` event and so no
new crossing to tell, until a change in a later hour finds the recovery again. So a merchant's
level events, and the messages relaying them, are bounded an hour as its operational events are.
"""

from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, case, literal_column

from ..store.raw import Conn
from . import hourly

__all__ = [
    "MARGIN_MOST_CENTS",
    "MARGIN_PERCENT",
    "RECOVERIES_PER_HOUR",
    "margin",
    "margin_of",
    "rearmed",
]

MARGIN_PERCENT: Final = 10
MARGIN_MOST_CENTS: Final = 1_000  # $10.00: a large level needs no more to be a real recovery
RECOVERIES_PER_HOUR: Final = 6


def margin(level_cents: int) -> int:
    """How far past ``level_cents`` a recovery must go: ``MARGIN_PERCENT`` of it, at least a
    cent and at most ``MARGIN_MOST_CENTS``."""
    return max(min(level_cents * MARGIN_PERCENT // 100, MARGIN_MOST_CENTS), 1)


def margin_of(level: ColumnElement[Any]) -> ColumnElement[Any]:
    """``margin`` of a level column, in SQL (integer division on both stores)."""
    part = level * literal_column(str(MARGIN_PERCENT)) / literal_column("100")
    most: ColumnElement[Any] = literal_column(str(MARGIN_MOST_CENTS))
    return case((part > most, most), (part > literal_column("1"), part), else_=literal_column("1"))


async def rearmed(conn: Conn, env: str, merchant_id: str, now: datetime) -> bool:
    """Whether the merchant's levels may re-arm once more this hour in ``env`` (taken if so)."""
    return await hourly.counted(conn, f"levels:{env}:{merchant_id}", RECOVERIES_PER_HOUR, now)
