"""When each API key was last used, as OpenRouter's and Stripe's key lists show it.

Every door authenticates through ``auth.authenticate_key``, which tells this process's
``LastUsed`` of each key it admitted. Writing the time on every request would put a write on
every read and a second one on every send, so a process writes a key's time at most once a
``RESOLUTION_SECONDS``: "last used" is exact to that resolution, which is all a person reading
it needs. The write only moves the time forward, so processes racing each other keep the latest.
A write that fails is logged and the request goes on: the time is a convenience, not a record.
"""

import logging
import time
from datetime import datetime

from sqlalchemy import String, or_, update

from .store.engine import Database
from .store.expressions import param
from .store.models import ApiKeyRow, table_of
from .store.raw import Raw, Statement
from .store.types import UTCDateTime

__all__ = ["RESOLUTION_SECONDS", "LastUsed"]

log = logging.getLogger(__name__)

RESOLUTION_SECONDS = 60.0
_MEMORY = 10_000  # keys remembered; past it the memory starts afresh

_KEYS = table_of(ApiKeyRow)
_NOW = param("now", UTCDateTime)
_TOUCH = Statement.of(
    update(_KEYS)
    .where(_KEYS.c.id == param("key_id", String))
    .where(or_(_KEYS.c.last_used_at.is_(None), _KEYS.c.last_used_at < _NOW))
    .values(last_used_at=_NOW)
)


class LastUsed:
    """This process's memory of when it last wrote each key's time (monotonic seconds)."""

    def __init__(self, resolution_seconds: float = RESOLUTION_SECONDS) -> None:
        self._resolution = resolution_seconds
        self._written: dict[str, float] = {}

    def due(self, key_id: str) -> bool:
        """Whether ``key_id``'s time is older than the resolution here, claiming the write if so
        (concurrent requests of one key write once)."""
        now = time.monotonic()
        last = self._written.get(key_id)
        if last is not None and now - last < self._resolution:
            return False
        if len(self._written) >= _MEMORY:
            self._written = {}  # at worst, one more write for each key still in use
        self._written[key_id] = now
        return True

    async def touch(self, db: Database, key_id: str, now: datetime) -> None:
        if not self.due(key_id):
            return

        async def write(tx: Raw) -> None:
            await tx.fetch(_TOUCH, {"key_id": key_id, "now": now})

        try:
            await db.run(write)
        except Exception:  # any store fault: the request it rides on must not fail for it
            self._written.pop(key_id, None)
            log.warning("a key's last use was not written", exc_info=True)
