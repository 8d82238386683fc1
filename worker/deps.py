"""What the worker's work needs, opened once per process (``worker.__main__``) and handed to every
kind's tries and every periodic job."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.store.engine import Database
from gateway.upstreams.outbound import Upstreams
from gateway.values.settings import Settings
from keys import Sealer, decode_webhook_secret

from .http import Outbound
from .store import Records

__all__ = ["Deps", "Wake"]

# Wakes the runner for outbox rows just written, by their ids (``outbox.kinds_of``).
Wake = Callable[[Iterable[str]], None]


def _nobody(ids: Iterable[str]) -> None:
    """No runner to wake: the rows are found when they fall due all the same."""


@dataclass(slots=True)
class Deps:
    settings: Settings
    db: Database
    records: Records  # deliveries' records, joined
    sealer: Sealer
    outbound: dict[str, Outbound]  # webhook deliveries' clients, by env
    upstreams: Upstreams  # upstream providers' clients
    redis: Any  # arq.ArqRedis: the caps on voucher mails count there
    wake: Wake = _nobody
    _keys: dict[str, bytes] = field(default_factory=dict)

    def signing_key(self, endpoint_id: str, sealed: str) -> bytes:
        """Opening a sealed secret is cheap but not free; the sealed text is the cache key, so a
        rotation is picked up at once."""
        found = self._keys.get(sealed)
        if found is None:
            if len(self._keys) > 10_000:
                self._keys.clear()
            found = decode_webhook_secret(self.sealer.open(sealed, context=endpoint_id))
            self._keys[sealed] = found
        return found
