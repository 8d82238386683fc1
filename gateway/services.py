"""The clients a request can use, built once in the lifespan and handed to every request."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from keys import Sealer

from .accounts.passwords import HashSlots
from .apps.documents import Reader, open_reader
from .key_requests import RequestCounter
from .last_used import LastUsed
from .lockout import Lockout
from .ratelimit import Leases
from .redis_client import Redis, open_redis
from .store.db import open_database
from .store.engine import Database
from .upstreams.allowances import Allowances, open_allowances
from .upstreams.outbound import Upstreams, open_upstreams
from .values.languages import Catalogues
from .values.settings import Settings
from .wakes import Waker

__all__ = ["CLOSE_WITHIN", "Services", "open_services", "services"]

log = logging.getLogger(__name__)

# The longest closing the clients takes at the lifespan's end, whatever Redis, the store and the
# far sides do: past it the process ends with them open and the system closes them, where a
# close waiting on a stalled server would hold a stopping gateway until its supervisor kills it.
# Each best-effort Redis call is bounded below this (``redis_client.ANSWER_WITHIN``), unless the
# settings raise that bound for a profiler's pace.
CLOSE_WITHIN = 5.0


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    redis: Redis  # arq.ArqRedis: limits and counters (the waker has a connection of its own)
    sealer: Sealer
    waker: Waker  # after-commit wakes of the workers, grouped across requests
    # What this process knows of the authentication lockouts (their truth is in Redis).
    lockout: Lockout = field(default_factory=Lockout)
    # This process's batches of the keys' rate limits (their counts are in Redis).
    leases: Leases = field(default_factory=Leases)
    # When this process last wrote each key's ``last_used_at`` (the time itself is in the store).
    last_used: LastUsed = field(default_factory=LastUsed)
    # This process's bound on concurrent password hashes.
    hashes: HashSlots = field(default_factory=HashSlots)
    # The clients upstream calls (New API, OpenRouter) go out on, each connect checked.
    upstreams: Upstreams | None = None
    # This process's count of each key's requests not yet added to Redis's.
    key_requests: RequestCounter = field(default_factory=RequestCounter)
    # The reads of OAuth clients' metadata documents, on a pool of their own.
    documents: Reader | None = None
    # The reads of recipients' OpenRouter keys for their pages, on a pool of their own.
    allowances: Allowances | None = None
    # Every language's words for pages and e-mails, read once (``values.languages``).
    languages: Catalogues = field(default_factory=Catalogues.load)


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """The clients every door of the gateway uses (the app's lifespan, ``aitopup mcp``),
    opened from ``settings`` and closed after the waker has drained."""
    db = open_database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        command_timeout=settings.database_command_timeout_seconds,
        pool_timeout=settings.database_pool_timeout_seconds,
        statement_cache=settings.database_statement_cache,
    )
    redis = open_redis(settings.redis_url)
    answer_within = settings.redis_answer_seconds  # each best-effort Redis call's bound
    # The waker's publishes go one at a time from its one task: a connection of their own.
    waking = open_redis(settings.redis_url, one_connection=True)
    waker = Waker(waking, answer_within=answer_within)
    upstreams = open_upstreams(settings)
    reader = open_reader(settings)
    allowances = open_allowances(settings)
    counter = RequestCounter(settings.key_request_counts_flush_seconds, answer_within=answer_within)
    try:
        yield Services(
            settings=settings,
            db=db,
            redis=redis,
            sealer=Sealer(settings.secret_key.get_secret_value().encode()),
            waker=waker,
            lockout=Lockout(
                answer_within=answer_within, recheck_seconds=settings.lockout_recheck_seconds
            ),
            hashes=HashSlots(settings.password_hashes_per_process),
            upstreams=upstreams,
            key_requests=counter,
            documents=reader,
            allowances=allowances,
            languages=Catalogues.load(),
        )
    finally:
        try:
            async with asyncio.timeout(CLOSE_WITHIN):
                await counter.close(redis)
                await reader.aclose()
                await allowances.aclose()
                await upstreams.aclose()
                await waker.drain()
                await waking.aclose()
                await redis.aclose()
                await db.dispose()
        except TimeoutError:
            log.warning(
                "the gateway's clients were not all closed in time: the system closes the rest",
                extra={"after_seconds": CLOSE_WITHIN},
            )


def services(conn: HTTPConnection) -> Services:
    found: Services = conn.state.services
    return found
