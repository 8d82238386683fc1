"""How every process connects to Redis: the one ``RedisSettings`` the gateway and the worker use.

Redis restarted (empty or not) leaves every pooled connection dead; without a retry the next
command on each fails once, so a send's wake or a rate limit's count fails for no reason once
Redis is back. redis-py's ``Retry`` reconnects and repeats the command, with exponential backoff
and jitter, a few times and then gives up quickly: a Redis that stays down must cost a request
well under the rate limiter's deadline (``ratelimit``), and the worker waits out a longer outage
itself (``worker.service``). Every command sent this way may be repeated: a wake twice wakes
once more, and a rate limit counting a hit twice errs on the safe side.
"""

from typing import TYPE_CHECKING, TypeAlias, cast

from .values.settings import Settings

# redis and ARQ (about seventy modules: ``redis`` loads its asyncio client as it loads) are
# imported where a client is made: the command line reaches ``ANSWER_WITHIN`` through the
# outbox, and makes no client.
if TYPE_CHECKING:
    from arq.connections import ArqRedis, RedisSettings
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.retry import Retry

__all__ = ["ANSWER_WITHIN", "COMMAND_RETRIES", "Redis", "open_redis", "redis_settings"]

# The client every process holds (``open_redis``'s, or any redis-py asyncio client): named, not
# imported, so a module that only takes one loads nothing of redis.
Redis: TypeAlias = "AsyncRedis"

# Retries of one command on a broken connection, backing off from 20 ms up to 200 ms: about half
# a second at worst, against a server that refuses connections.
COMMAND_RETRIES = 3
_BACKOFF_BASE = 0.02
_BACKOFF_CAP = 0.2


# As ARQ's ``RedisSettings.conn_timeout``.
CONNECT_TIMEOUT = 1
# The longest a call that can do without Redis waits for its answer: the fail-open limits, the
# wakes, the key request counts, a secret's one-time page, a cache. The retry above covers a
# server that refuses; a stalled one (stopped, or cut off without a reset) answers nothing and
# refuses nothing, and would hold the caller until the kernel gives the connection up, minutes
# later. A limit that refuses when it cannot count waits longer (``ratelimit``).
#
# Half a second: the default of the settings' ``redis_answer_seconds``
# (``AITOPUP_REDIS_ANSWER_SECONDS``), which bounds the calls every send may make instead: the
# key's request counts (``key_requests.RequestCounter``), the wakes (``wakes.Waker``) and the
# lockout's look (``lockout.Lockout``), each given it where the services are opened. Only a
# process run at a profiler's pace raises it: under callgrind a process runs some fifty times
# slower, a tenth of a core on a loaded machine, and half a second is passed by answers that
# came, so a count would count the failure's path (the warning, its traceback formatted) instead
# of the send's (``bench.instructions`` sets a minute).
ANSWER_WITHIN: float = Settings.model_fields["redis_answer_seconds"].default


def _retry() -> "Retry":
    from redis.asyncio.retry import Retry
    from redis.backoff import EqualJitterBackoff

    return Retry(EqualJitterBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE), COMMAND_RETRIES)


def _retried() -> list[type[Exception]]:
    """The errors a command is retried on: a broken connection, one that timed out."""
    from redis.exceptions import ConnectionError, TimeoutError

    return [ConnectionError, TimeoutError]


def open_redis(url: str, *, one_connection: bool = False) -> "ArqRedis":
    """The gateway's client, with the same retry policy, connected on first use rather than at
    start (ARQ's ``create_pool`` pings first, and gives up after a few seconds): a gateway
    started while Redis is down serves every call, as one already running does, and its
    wakes and limits find Redis once it answers.

    ``one_connection``: for commands one task sends one at a time (the waker's publishes), a
    client of one connection (redis-py's ``single_connection_client``) rather than a pool. A
    command taken from the pool first looks for stale data on its connection, with a read whose
    timeout ends it at once: a cancelled read and its exception on every command, about a third
    of a publish's instructions (docs/performance.md, "The wake on a connection of its own")."""
    from arq.connections import ArqRedis

    client = ArqRedis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        retry=_retry(),
        retry_on_error=_retried(),
        encoding="utf8",
        single_connection_client=one_connection,
    )
    return cast(ArqRedis, client)


def redis_settings(url: str) -> "RedisSettings":
    """ARQ's settings for ``url``, with the retry policy above. Connecting at start-up is ARQ's
    own loop (``conn_retries``, a second apart): a process that cannot reach Redis then exits,
    and its supervisor starts it again (``docs/operations.md``)."""
    from arq.connections import RedisSettings

    settings = RedisSettings.from_dsn(url)
    settings.retry = _retry()
    settings.retry_on_error = _retried()
    return settings
