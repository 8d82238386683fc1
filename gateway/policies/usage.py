"""What a key may still spend: its policy, and per window its spend, what remains and when the
window resets (``GET /keys/self``, MCP's ``get_key_limits``), so an agent can plan a send."""

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, Field

from ..store.db import Database
from ..values.clock import rfc3339, utcnow
from .model import Interval, Policy
from .rules import counted_windows
from .spend import spent

__all__ = ["KeyUsage", "WindowUsage", "usage"]


class WindowUsage(BaseModel):
    interval: Interval
    limit_cents: int
    spent_cents: int
    remaining_cents: int
    resets_at: str | None = Field(description="RFC 3339 UTC; null for all_time.")


class KeyUsage(BaseModel):
    key_id: str
    env: str
    legacy: bool = Field(description="Made before policies: every scope, no limit.")
    policy: Policy
    windows: list[WindowUsage] = Field(description="One per limit, the current window of each.")
    soft_limit_reached: bool = Field(
        description="Spend has reached soft_limit_percent of a limit in its current window."
    )


class KeyHolder(Protocol):
    """What usage needs of a caller; the callers sit above the policies they carry."""

    @property
    def key_id(self) -> str: ...
    @property
    def env(self) -> str: ...
    @property
    def legacy(self) -> bool: ...
    @property
    def policy(self) -> Policy: ...


async def usage(db: Database, caller: KeyHolder, now: datetime | None = None) -> KeyUsage:
    policy = caller.policy
    # The per-recipient limit has a window per recipient: it is described by the policy only.
    counted = [
        c for c in counted_windows(policy, "", now or utcnow()) if c.source != "per_recipient"
    ]
    found = await db.run(
        lambda tx: spent(tx, caller.key_id, [c.bucket for c in counted]), read_only=True
    )
    windows = [
        WindowUsage(
            interval=c.interval,
            limit_cents=c.limit_cents,
            spent_cents=found.get(c.bucket, 0),
            remaining_cents=max(0, c.limit_cents - found.get(c.bucket, 0)),
            resets_at=None if c.resets_at is None else rfc3339(c.resets_at),
        )
        for c in counted
    ]
    soft = any(c.soft_cents is not None and found.get(c.bucket, 0) >= c.soft_cents for c in counted)
    return KeyUsage(
        key_id=caller.key_id,
        env=caller.env,
        legacy=caller.legacy,
        policy=policy,
        windows=windows,
        soft_limit_reached=soft,
    )
