"""What a recipient's key at an upstream spent and has left, for their page: the key as its
provider reads it with the merchant's credential (``providers.ReadsFigures``, OpenRouter's
``GET /keys/{hash}``; ``KeyFigures``: used, limit, left, its reset and expiry), read at most
once a page view. Which providers' keys are read, and how, is the registry's to say.

Whoever holds the link may load the page as often as they like, and the far side is the
merchant's upstream, so the reads are bounded apart from every merchant's own calls:

- each key's answer is kept ``ANSWER_SECONDS`` in this process, a failure ``FAILURE_SECONDS``;
  reads of one key at once are one read;
- they go out on clients of their own (``open_allowances``, ``READS_IN_FLIGHT`` connections
  an environment, over the checked transport), never a merchant's share of the upstreams' pool;
- an origin (scheme, host, port) is read at most ``READS_PER_ORIGIN`` at once and
  ``READS_PER_ORIGIN_PER_MINUTE`` a minute by a process; a read past a bound is not made;
- a read takes at most ``READ_SECONDS`` whole, and its answer at most ``MAX_ANSWER_BYTES``.

A read not made, failed or cut shows the page without the figures, saying they are unavailable:
never a broken page. Kept in the process, not in Redis: the figures are shown, never recorded
or enforced (a New API code's state, ``recipients.redeemed``, is recorded, and kept in Redis),
so a page never waits on Redis for them, and the bounds that protect the far side are this
process's own counts, which no Redis outage opens. Each process reads a key at most once a
minute (a fleet of N processes, N times)."""

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import select

from keys import Sealer

from ..store.engine import Database
from ..store.models import UpstreamKey, table_of
from ..values.platforms import PLATFORMS
from ..values.settings import Settings
from ..webhooks.bounded_reads import BoundedReads, Read
from ..webhooks.transport import WebhookTransport
from . import config, providers
from .clients import UpstreamError
from .outbound import Upstreams
from .providers import KeyFigures, ReadsFigures

__all__ = [
    "ANSWER_SECONDS",
    "FAILURE_SECONDS",
    "MAX_ANSWER_BYTES",
    "READS_AT_ONCE",
    "READS_IN_FLIGHT",
    "READS_PER_ORIGIN",
    "READS_PER_ORIGIN_PER_MINUTE",
    "READ_SECONDS",
    "Allowance",
    "Allowances",
    "KeyFigures",
    "open_allowances",
]

ANSWER_SECONDS = 60.0
FAILURE_SECONDS = 10.0
READ_SECONDS = 3.0
MAX_ANSWER_BYTES = 16 * 1024  # a key's object is well under 1 KiB
READS_IN_FLIGHT = 8  # an environment's connections
READS_AT_ONCE = 2 * READS_IN_FLIGHT  # a process's, both environments together
READS_PER_ORIGIN = 2
READS_PER_ORIGIN_PER_MINUTE = 60
USER_AGENT = "aiTopUp-recipient/1"
_K = table_of(UpstreamKey)

_Key = tuple[str, str, str, str]  # merchant, environment, provider, key hash


@dataclass(frozen=True, slots=True)
class Allowance:
    """A recipient's key as their page shows it: ``figures`` (``None``: unavailable right
    now), and when it expires (the upstream's word, else what the key was made with)."""

    figures: KeyFigures | None
    expires_at: datetime | None
    expired: bool


class Allowances:
    """One process's reads of recipients' upstream keys (see the module). ``clock`` is
    monotonic seconds; ``within`` bounds a read whole."""

    def __init__(
        self,
        http: Upstreams,
        *,
        clock: Callable[[], float] = time.monotonic,
        within: float = READ_SECONDS,
    ) -> None:
        self._http = http
        self._within = within
        self._reads: BoundedReads[_Key, KeyFigures] = BoundedReads(
            at_once=READS_AT_ONCE,
            each=READS_PER_ORIGIN,
            each_a_minute=READS_PER_ORIGIN_PER_MINUTE,
            clock=clock,
        )

    @staticmethod
    def reads(provider: str) -> bool:
        """Whether the keys ``provider`` makes for recipients are ones read here."""
        return isinstance(providers.get(provider), ReadsFigures)

    async def aclose(self) -> None:
        await self._http.aclose()

    def forget(self) -> None:
        """Every kept answer dropped: the next view reads again (within the bounds)."""
        self._reads.forget()

    async def of(
        self,
        db: Database,
        sealer: Sealer,
        merchant_id: str,
        env: str,
        email: str,
        platforms: Sequence[str],
        now: datetime,
    ) -> dict[str, Allowance]:
        """The recipient's keys at ``merchant_id`` in ``env`` that are read here, by label,
        each with what its upstream says of it. ``platforms``: where their top-ups through such
        an upstream were sent, newest first, whose settings (credential, API root) are asked
        first."""
        readers = [p.name for p in providers.all_providers() if isinstance(p, ReadsFigures)]
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    select(_K.c.label, _K.c.provider, _K.c.key_hash, _K.c.expires_at).where(
                        _K.c.merchant_id == merchant_id,
                        _K.c.env == env,
                        _K.c.provider.in_(readers),
                        _K.c.recipient_email == email.lower(),
                        _K.c.key_hash.is_not(None),
                    )
                )
            ).all()
        found = {}
        for label, provider, key_hash, made_expiring in rows:
            key = (merchant_id, env, provider, key_hash)
            said = await self._figures(db, sealer, key, platforms)
            expires = said.expires_at if said is not None else made_expiring
            found[label] = Allowance(said, expires, expires is not None and expires <= now)
        return found

    async def _figures(
        self, db: Database, sealer: Sealer, key: _Key, platforms: Sequence[str]
    ) -> KeyFigures | None:
        return await self._reads.once(key, lambda: self._read(db, sealer, key, platforms))

    async def _read(
        self, db: Database, sealer: Sealer, key: _Key, platforms: Sequence[str]
    ) -> Read[KeyFigures]:
        """One read of ``key`` within the bounds, and how long it is kept: an answer
        ``ANSWER_SECONDS``, a failure ``FAILURE_SECONDS``, none made not at all."""
        merchant_id, env, provider, key_hash = key
        reader = providers.get(provider)
        upstream = None
        async with db.read() as conn:
            for platform in dict.fromkeys([*platforms, *PLATFORMS]):
                upstream = await config.load(conn, sealer, merchant_id, env, platform)
                if upstream is not None and upstream.provider == provider:
                    break
                upstream = None
        if upstream is None or not isinstance(reader, ReadsFigures):
            return None, 0  # no settings of its upstream left to ask with
        origin = self._reads.start(upstream.base_url)
        if origin is None:
            return None, 0  # not the far side's fault: nothing kept
        try:
            http = self._http.for_env(env)
            async with asyncio.timeout(self._within):
                said = await reader.key_figures(upstream, http, key_hash, MAX_ANSWER_BYTES)
                return said, ANSWER_SECONDS
        except (UpstreamError, TimeoutError):
            return None, FAILURE_SECONDS
        finally:
            self._reads.end(origin)


def _client(settings: Settings, *, allow_loopback: bool) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=READS_IN_FLIGHT,
        max_keepalive_connections=READS_IN_FLIGHT,
        keepalive_expiry=30,
    )
    return httpx.AsyncClient(
        transport=WebhookTransport(allow_loopback=allow_loopback, limits=limits),
        timeout=httpx.Timeout(READ_SECONDS, connect=READ_SECONDS),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


def open_allowances(settings: Settings) -> Allowances:
    """The reads for ``settings``: live never reaches loopback or private networks; staging
    may, with ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` (development only), as its upstream calls."""
    strict = _client(settings, allow_loopback=False)
    if not settings.allow_private_webhook_urls:
        return Allowances(Upstreams(strict, strict))
    return Allowances(Upstreams(strict, _client(settings, allow_loopback=True)))
