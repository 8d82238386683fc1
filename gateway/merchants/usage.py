"""Each key's usage as OpenRouter's key page shows it: spend and what remains in each window of
its limits (``policies.usage``, the one ``GET /keys/self`` answers with), its requests per
calendar window (``key_requests``) and its last use, for ``GET /keys``, ``GET /keys/{id}`` and
the dashboard's keys."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..key_requests import read_counts
from ..policies.model import Policy, load
from ..policies.templates import effective
from ..policies.usage import usage
from ..redis_client import Redis
from ..store.engine import Database
from ..store.models import PolicyTemplate, table_of
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
    db: Database, redis: Redis, keys: list[KeyData], now: datetime | None = None
) -> list[KeyData]:
    """``keys``, each with its ``usage``: in the windows it counts in, under its template."""
    now = now or utcnow()
    counts = await read_counts(redis, [k.id for k in keys], now)
    templates = await _templates(db, {k.policy.template for k in keys} - {None})
    found = []
    for key in keys:
        acting = effective(key.policy, templates.get(key.policy.template or ""))
        spend = await usage(db, _Holder(key.id, key.env, key.legacy, acting), now)
        activity = KeyActivity(
            windows=spend.windows,
            requests=counts[key.id],
            soft_limit_reached=spend.soft_limit_reached,
        )
        found.append(key.model_copy(update={"usage": activity}))
    return found


_PT = table_of(PolicyTemplate)


async def _templates(db: Database, ids: set[str | None]) -> dict[str, Policy]:
    if not ids:
        return {}
    async with db.read() as conn:
        rows = await conn.execute(sa.select(_PT.c.id, _PT.c.policy).where(_PT.c.id.in_(ids)))
    return {str(r.id): load(r.policy) for r in rows}
