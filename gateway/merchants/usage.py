"""Each key's usage as OpenRouter's key page shows it: spend and what remains in each window of
its limits (``policies.usage``, the one ``GET /keys/self`` answers with), its requests per
calendar window (``key_requests``) and its last use, for ``GET /keys``, ``GET /keys/{id}`` and
the dashboard's keys."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..key_requests import read_counts
from ..policies.model import Policy
from ..policies.usage import usage
from ..store.db import Database
from ..values.clock import utcnow
from .schemas import KeyActivity, KeyData

__all__ = ["with_usage"]


@dataclass(frozen=True, slots=True)
class _Holder:
    key_id: str
    env: str
    legacy: bool
    policy: Policy


async def with_usage(
    db: Database, redis: Any, keys: list[KeyData], now: datetime | None = None
) -> list[KeyData]:
    """``keys``, each with its ``usage``."""
    now = now or utcnow()
    counts = await read_counts(redis, [k.id for k in keys], now)
    found = []
    for key in keys:
        spend = await usage(db, _Holder(key.id, key.env, key.legacy, key.policy), now)
        activity = KeyActivity(
            windows=spend.windows,
            requests=counts[key.id],
            soft_limit_reached=spend.soft_limit_reached,
        )
        found.append(key.model_copy(update={"usage": activity}))
    return found
