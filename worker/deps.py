"""What the worker's work needs, opened once per process (``worker.service``) and handed to every
kind's tries and every periodic job."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.redis_client import Redis
from gateway.store.engine import Database
from gateway.upstreams.outbound import Upstreams
from gateway.values.clock import SYSTEM, Clock
from gateway.values.languages import Catalogues
from gateway.values.settings import Settings
from gateway.webhooks import headers
from gateway.webhooks.destinations.base import Via
from gateway.webhooks.destinations.clients import Clients
from gateway.webhooks.destinations.saving import opened
from keys import Sealer, decode_signing_key, decode_webhook_secret

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
    redis: Redis  # arq.ArqRedis: the caps on voucher mails count there
    wake: Wake = _nobody
    # The time the runner waits on and the records' schedules read (``worker.runner``).
    clock: Clock = SYSTEM
    # Every language's words for the mails, read once per process (``values.languages``).
    languages: Catalogues = field(default_factory=Catalogues.load)
    _keys: dict[str, bytes] = field(default_factory=dict)
    _ed25519: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    _headers: dict[str, tuple[dict[str, str], frozenset[str]]] = field(default_factory=dict)
    _destinations: dict[str, Any] = field(default_factory=dict)
    _clients: dict[str, Clients] = field(default_factory=dict)
    _via: dict[str, Via] = field(default_factory=dict)

    def via(self, env: str) -> Via:
        """An environment's ways out, which every destination type's delivery is handed; made
        once, as its transport and clients are."""
        found = self._via.get(env)
        if found is None:
            found = self._via[env] = Via(
                self.outbound[env].transport,
                self.clients(env),
                self.destination,
                self.settings.webhook_timeout_seconds,
            )
        return found

    def destination(self, endpoint_id: str, name: str, sealed: str) -> Any:
        """A broker endpoint's destination object, opened; cached like ``signing_key``."""
        found = self._destinations.get(sealed)
        if found is None:
            if len(self._destinations) > 10_000:
                self._destinations.clear()
            found = opened(self.sealer, endpoint_id, name, sealed)
            self._destinations[sealed] = found
        return found

    def clients(self, env: str) -> Clients:
        """An environment's destination clients (``destinations.clients``): live's never reach
        a private address; staging's may when ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` is set, as
        its webhook URLs may."""
        found = self._clients.get(env)
        if found is None:
            allow = env == "staging" and self.settings.allow_private_webhook_urls
            found = self._clients[env] = Clients(allow_loopback=allow)
        return found

    async def close_destinations(self) -> None:
        for clients in self._clients.values():
            await clients.aclose()

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

    def ed25519_key(self, endpoint_id: str, sealed: str) -> Ed25519PrivateKey:
        """An endpoint's ed25519 private key, cached like ``signing_key``."""
        found = self._ed25519.get(sealed)
        if found is None:
            if len(self._ed25519) > 10_000:
                self._ed25519.clear()
            opened = self.sealer.open(sealed, context=f"{endpoint_id}:whsk")
            found = decode_signing_key(opened)
            self._ed25519[sealed] = found
        return found

    def custom_headers(
        self, endpoint_id: str, column: str | None
    ) -> tuple[dict[str, str], frozenset[str]]:
        """An endpoint's custom headers, secrets opened, and the names of the secret ones (which
        the delivery log masks); cached by the column's text, so an edit is picked up at once."""
        if not column:
            return {}, frozenset()
        found = self._headers.get(column)
        if found is None:
            if len(self._headers) > 10_000:
                self._headers.clear()
            found = (
                headers.opened(column, self.sealer, endpoint_id),
                headers.secret_names(column),
            )
            self._headers[column] = found
        return found
