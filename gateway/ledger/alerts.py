"""``balance.low``: once per crossing below the merchant's threshold, whatever moved the money."""

from datetime import datetime
from typing import Any

from ..store.raw import Conn
from ..webhooks import outbox

__all__ = ["BALANCE_LOW", "balance_low", "crossed", "low_data"]

BALANCE_LOW = "balance.low"


def crossed(threshold: int, before: int, after: int) -> bool:
    """Only a change that takes the wallet from at or above the threshold to below it."""
    return after < threshold <= before


def low_data(after: Any, threshold: int) -> dict[str, Any]:
    return {"balance_cents": after, "low_balance_threshold_cents": threshold, "currency": "USD"}


async def balance_low(
    conn: Conn,
    *,
    env: str,
    merchant_id: str,
    threshold: int,
    before: int,
    after: int,
    now: datetime,
) -> list[str]:
    """Emit only when this change took the wallet from at or above the threshold to below it;
    staying below, or refilling, emits nothing. Returns the deliveries to enqueue."""
    if not crossed(threshold, before, after):
        return []
    return await outbox.emit(
        conn,
        env=env,
        merchant_id=merchant_id,
        type_=BALANCE_LOW,
        data=low_data(after, threshold),
        now=now,
    )
