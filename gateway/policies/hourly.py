"""Counts an hour: how many of a kind of event one scope (a merchant in an environment, an
endpoint) made in its current window of an hour, taken only while under a cap. One row a scope
(``webhook_operational_counts``), its window moved on by the write that counts, so no row
outlives its use by more than one per scope; the write is conditional, so racing writers never
take the count past its cap. The operational events (``webhooks.health``) and the levels'
re-arming (``levels``) are bounded by it.

A driver statement: it runs inside the worker's batched record and a plan's transaction alike.
"""

from datetime import datetime

from ..store.raw import Conn, Statement, raw

__all__ = ["counted"]

# One scope's count in the current window (an hour from its top), taken if under ``:cap``: a
# row's first write of a window starts it at one, and a late writer's older window never moves
# it back. ``SET`` reads the row as it was, on both stores.
_COUNT = Statement(
    """INSERT INTO webhook_operational_counts (scope, window_start, used)
    VALUES (:scope, :window, 1)
    ON CONFLICT (scope) DO UPDATE SET
        used = CASE WHEN webhook_operational_counts.window_start < excluded.window_start
            THEN 1 ELSE webhook_operational_counts.used + 1 END,
        window_start = CASE WHEN webhook_operational_counts.window_start < excluded.window_start
            THEN excluded.window_start ELSE webhook_operational_counts.window_start END
    WHERE webhook_operational_counts.window_start < excluded.window_start
        OR webhook_operational_counts.used < :cap
    RETURNING used""",
    ("used",),
)


async def counted(conn: Conn, scope: str, cap: int, now: datetime) -> bool:
    """Whether ``scope`` may make one more this hour (taken if so)."""
    window = now.replace(minute=0, second=0, microsecond=0)
    params = {"scope": scope, "window": window, "cap": cap}
    return await (await raw(conn)).fetchrow(_COUNT, params) is not None
