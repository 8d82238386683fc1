"""A payload filter tried on the merchant's own recent events before it is saved: which of the
last ``PREVIEW_EVENTS`` events of its environment it would let through, by the same rule the
fan-out matches (``values.payload_filters``). Read only, one bounded read by the events'
merchant index."""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..callers import Caller
from ..store.engine import Database
from ..store.models import Event, table_of
from ..store.paging import recent_first
from ..values import payload_filters
from ..values.clock import rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import Outcome

__all__ = ["PREVIEW_EVENTS", "Tried", "preview"]

PREVIEW_EVENTS = 20
_E = table_of(Event)


@dataclass(frozen=True, slots=True)
class Tried:
    event_id: str
    type: str
    created_at: str
    passes: bool


async def preview(db: Database, caller: Caller, filter_: dict[str, Any] | None) -> Outcome:
    """The caller's newest events, each with whether ``filter_`` (judged as a save judges it:
    refused with its code) passes it: a list of ``Tried``, for the dashboard's page alone."""
    saved = payload_filters.check_filter(filter_)
    node = json.loads(saved.text) if saved is not None else None
    stmt = select(_E.c.id, _E.c.type, _E.c.payload, _E.c.created_at).where(
        _E.c.merchant_id == caller.merchant_id, _E.c.env == caller.env
    )
    async with db.read() as conn:
        rows, _ = await recent_first(
            conn, stmt, _E.c.id, prefix="evt", limit=PREVIEW_EVENTS, cursor=None, now=utcnow()
        )
    tried = [
        Tried(
            event_id=row.id,
            type=row.type,
            created_at=rfc3339(row.created_at),
            passes=node is None or payload_filters.matches(node, json.loads(row.payload)),
        )
        for row in rows
    ]
    return Outcome(Code.SUCCESS, tried)
