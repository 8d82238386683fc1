"""A fixed-window rate limiter in Redis, shared by every gateway process.

A bucket is one Redis key holding a count, and its TTL is what is left of its window: the first
hit creates it with the window as its TTL, and the window ends for every process at once when
Redis expires the key. One Lua script reads, increments only if there is room, and reads the TTL,
in one atomic round trip: concurrent hits never admit more than ``limit`` in a window, and the
reset (so ``Retry-After``) comes from Redis's own clock, whatever the gateways' clocks say.

A refused hit counts nothing, so a client that keeps knocking does not push its own window on;
``peek`` (cost 0) asks whether a hit would be admitted without counting one, for limits that
count only failures (``gateway.lockout``). A hit on several buckets counts in each that has room,
or, ``whole``, in every one or in none: a mail held by one of its caps takes nothing from the
others, in the same round trip (never counted, then given back).

Redis not answering is ``LimiterUnavailable``; each caller decides whether that admits the
request (fail open) or refuses it (fail closed), and says why.

``Leases`` keeps a high limit off Redis's round trip: a process takes hits from the shared
count in batches of 1% of the limit, and spends them on its own until its batch or the
window ends. Nothing is admitted past the limit (every hit was counted in Redis first); at worst
a process's unspent batch, under 1% of the limit, goes unused when the window ends. A limit of
under 200 a window is taken one hit at a time, so it is as exact as ``hit``.
"""

import asyncio
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from .redis_client import ANSWER_WITHIN, Redis
from .values.code_names import Code
from .values.outcome import ApiError

__all__ = [
    "CLOSED_DEADLINE_SECONDS",
    "LEASE_SHARE",
    "OPEN_DEADLINE_SECONDS",
    "UNAVAILABLE_RETRY_AFTER",
    "Decision",
    "Leases",
    "Limit",
    "LimiterUnavailable",
    "deadline_of",
    "hit",
    "hit_all",
    "peek_all",
    "release_all",
    "unavailable",
]

# Per bucket: KEYS[i], ARGV = cost, whole (1: every bucket counts or none does), then limit and
# window (ms) for each bucket in turn. Returns allowed (1/0: it had room), count and TTL (ms)
# per bucket.
_LUA = b"""
local cost = tonumber(ARGV[1])
local counts = {}
local counting = cost > 0
for i, key in ipairs(KEYS) do
  counts[i] = tonumber(redis.call('GET', key) or '0')
  if ARGV[2] == '1' and counts[i] + cost > tonumber(ARGV[2 * i + 1]) then
    counting = false
  end
end
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i + 1])
  local window = tonumber(ARGV[2 * i + 2])
  local count = counts[i]
  local allowed = 0
  if count + math.max(cost, 1) <= limit then
    allowed = 1
    if counting then
      count = redis.call('INCRBY', key, cost)
    end
  end
  local ttl = redis.call('PTTL', key)
  if count > 0 and ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  elseif ttl < 0 then
    ttl = 0
  end
  out[#out + 1] = allowed
  out[#out + 1] = count
  out[#out + 1] = ttl
end
return out
"""
# A lease: KEYS[1]; ARGV = hits wanted, limit, window (ms). Takes what is left, up to the
# wanted; returns hits granted, the count after and the TTL (ms).
_LEASE_LUA = b"""
local want = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.max(0, math.min(want, limit - count))
if grant > 0 then
  count = redis.call('INCRBY', KEYS[1], grant)
end
local ttl = redis.call('PTTL', KEYS[1])
if count > 0 and ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  ttl = tonumber(ARGV[3])
elseif ttl < 0 then
  ttl = 0
end
return {grant, count, ttl}
"""
# Give one hit back to each of KEYS (never below zero, TTL kept); returns nothing.
_RELEASE_LUA = b"""
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return {}
"""
# Redis names scripts by their SHA-1.
_SHA = hashlib.sha1(_LUA).hexdigest()  # noqa: S324
_LEASE_SHA = hashlib.sha1(_LEASE_LUA).hexdigest()  # noqa: S324
_RELEASE_SHA = hashlib.sha1(_RELEASE_LUA).hexdigest()  # noqa: S324
# Keys of this module's own, apart from ARQ's.
_NAMESPACE = "aitopup:ratelimit:"
# A limit that admits when it cannot count (``closed=False``) gives Redis production's
# ``redis_answer_seconds``, this long (every caller passes its process's setting, so none takes
# this by default): a request must not wait on it (the send's own calls, docs/performance.md).
OPEN_DEADLINE_SECONDS = ANSWER_WITHIN
# A limit that refuses (or holds) when it cannot count (``closed=True``): a count that is only
# slow (a busy process, the caller's own burst) should rather delay its request a little than
# refuse it, so it waits at least this, and never less than an open limit's bound.
# docs/security.md states both; a test holds the page to these names.
CLOSED_DEADLINE_SECONDS = 2.0


def deadline_of(*, closed: bool, answer_within: float) -> float:
    """How long a count may take before Redis is taken as down: the one rule, chosen by what
    the limit does then (every counting call states it, so none takes the other's by default).
    ``answer_within``: an open limit's bound, the process's ``redis_answer_seconds``; a closed
    limit, which refuses where an open one admits, never gives Redis less."""
    return max(CLOSED_DEADLINE_SECONDS, answer_within) if closed else answer_within


class LimiterUnavailable(Exception):
    """Redis did not answer the limiter in time, or at all."""


# A limiter that fails closed is back once Redis answers: a client waits this long (seconds).
UNAVAILABLE_RETRY_AFTER = 5


def unavailable() -> ApiError:
    """The refusal of a door whose limit fails closed when Redis cannot count (503): said in
    one way everywhere, with when to come back."""
    return ApiError(
        Code.SERVICE_UNAVAILABLE,
        "Rate limiter unavailable; retry shortly",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
    )


@dataclass(frozen=True, slots=True)
class Limit:
    bucket: str  # what is counted, e.g. "redeem:mch_…"; the namespace is added here
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the bucket's window ends (0: nothing counted yet)

    @property
    def retry_after(self) -> int:
        """Whole seconds, rounded up: retrying after it finds a new window."""
        return max(1, math.ceil(self.reset_seconds))

    def headers(self) -> dict[str, str]:
        """``RateLimit-*`` (IETF httpapi draft), and ``Retry-After`` when refused."""
        found = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_seconds)),
        }
        if not self.allowed:
            found["Retry-After"] = str(self.retry_after)
        return found

    def data(self) -> dict[str, int]:
        """What a refusal's envelope carries in ``data``."""
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "retry_after_seconds": self.retry_after,
        }


async def _script(
    redis: Redis,
    script: bytes,
    sha: str,
    keys: Sequence[str],
    args: Sequence[int],
    deadline: float,
) -> list[int]:
    try:
        async with asyncio.timeout(deadline):
            # redis-py types a script's keys and arguments as text; it sends ints and bytes too.
            scripts: Any = redis
            try:
                raw = await scripts.evalsha(sha, len(keys), *keys, *args)
            except NoScriptError:  # a new or flushed server: EVAL loads it for next time
                raw = await scripts.eval(script, len(keys), *keys, *args)
    except (RedisError, OSError, TimeoutError) as exc:
        raise LimiterUnavailable(str(exc) or type(exc).__name__) from exc
    return [int(v) for v in raw]


async def _run(
    redis: Redis,
    limits: Sequence[Limit],
    cost: int,
    *,
    closed: bool,
    answer_within: float,
    whole: bool = False,
) -> list[Decision]:
    keys = [_NAMESPACE + each.bucket for each in limits]
    args: list[int] = [cost, int(whole)]
    for each in limits:
        args += [each.limit, each.window_seconds * 1000]
    deadline = deadline_of(closed=closed, answer_within=answer_within)
    values = await _script(redis, _LUA, _SHA, keys, args, deadline)
    return [
        Decision(
            allowed=values[3 * i] == 1,
            limit=each.limit,
            remaining=max(0, each.limit - values[3 * i + 1]),
            reset_seconds=values[3 * i + 2] / 1000,
        )
        for i, each in enumerate(limits)
    ]


async def hit(
    redis: Redis,
    bucket: str,
    limit: int,
    window_seconds: int,
    *,
    closed: bool,
    answer_within: float,
) -> Decision:
    """Count one event in ``bucket`` if the window has room; say whether it had. ``closed``:
    the caller refuses (or holds) when Redis cannot count, and waits ``deadline_of`` for it
    (``answer_within`` as its)."""
    limits = [Limit(bucket, limit, window_seconds)]
    return (await _run(redis, limits, 1, closed=closed, answer_within=answer_within))[0]


async def hit_all(
    redis: Redis,
    limits: Sequence[Limit],
    *,
    closed: bool,
    cost: int = 1,
    answer_within: float,
    whole: bool = False,
) -> list[Decision]:
    """``hit`` on several buckets in one round trip; each counts where it has room, or, with
    ``whole``, every one counts if each has room and none does otherwise (each decision still
    says whether its bucket had room). ``cost``: events counted at once, all or none in each
    bucket; ``answer_within`` as ``deadline_of``'s."""
    assert cost >= 1
    return await _run(redis, limits, cost, closed=closed, answer_within=answer_within, whole=whole)


async def peek_all(
    redis: Redis,
    limits: Sequence[Limit],
    *,
    closed: bool,
    answer_within: float,
) -> list[Decision]:
    """Whether a hit on each bucket would be admitted now, counting nothing."""
    return await _run(redis, limits, 0, closed=closed, answer_within=answer_within)


async def release_all(redis: Redis, limits: Sequence[Limit]) -> None:
    """Give back one hit on each bucket: an attempt counted before its outcome was known
    (``gateway.lockout``) that turned out not to count. Not waited for past the open deadline:
    a count not given back errs toward the limit."""
    await _script(
        redis,
        _RELEASE_LUA,
        _RELEASE_SHA,
        [_NAMESPACE + each.bucket for each in limits],
        [],
        OPEN_DEADLINE_SECONDS,
    )


# A process takes at most this share of a window's limit at a time.
LEASE_SHARE = 100
# A batch is dropped this long before Redis ends its window: a hit spent at the very end must
# not land in the next window, whose count does not hold it.
_LEASE_MARGIN_SECONDS = 0.05
_LEASES_HELD = 10_000  # buckets held; past it the process starts afresh


class Leases:
    """One process's batches of hits on rate limits counted in Redis; ``clock`` is monotonic
    seconds. Per bucket: hits left in the batch, when its window ends, and what Redis had left
    after the batch was taken."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._held: dict[str, tuple[int, float, int]] = {}
        self._taking: dict[str, asyncio.Future[Decision | None]] = {}

    async def hit(
        self,
        redis: Redis,
        bucket: str,
        limit: int,
        window_seconds: int,
        *,
        closed: bool,
        answer_within: float,
    ) -> Decision:
        """As ``hit``: one event in ``bucket`` if the window has room, from this process's
        batch while it lasts. Hits made while a batch is being taken wait for it rather than
        each taking one, and share its refusal if Redis had nothing left."""
        while True:
            now = self._clock()
            left, ends, remaining = self._held.get(bucket, (0, 0.0, 0))
            if left > 0 and now < ends:
                self._held[bucket] = (left - 1, ends, remaining)
                return Decision(True, limit, remaining + left - 1, ends - now)
            taking = self._taking.get(bucket)
            if taking is None or limit < 2 * LEASE_SHARE:  # a batch of one serves only its taker
                deadline = deadline_of(closed=closed, answer_within=answer_within)
                return await self._take(redis, bucket, limit, window_seconds, deadline)
            await asyncio.wait((taking,))  # not cancelled with a waiter that is
            taken = taking.result()
            if taken is not None and not taken.allowed:
                return taken

    async def _take(
        self, redis: Redis, bucket: str, limit: int, window_seconds: int, deadline: float
    ) -> Decision:
        """A new batch, of which this hit is the first."""
        taking = asyncio.get_running_loop().create_future()
        self._taking.setdefault(bucket, taking)
        decision: Decision | None = None
        try:
            args = (max(1, limit // LEASE_SHARE), limit, window_seconds * 1000)
            granted, count, ttl_ms = await _script(
                redis,
                _LEASE_LUA,
                _LEASE_SHA,
                [_NAMESPACE + bucket],
                args,
                deadline,
            )
            reset, remaining = ttl_ms / 1000, max(0, limit - count)
            if granted == 0:
                self._held.pop(bucket, None)
                decision = Decision(False, limit, 0, reset)
                return decision
            if len(self._held) >= _LEASES_HELD:
                self._held.clear()
            ends = self._clock() + reset - _LEASE_MARGIN_SECONDS
            self._held[bucket] = (granted - 1, ends, remaining)
            decision = Decision(True, limit, remaining + granted - 1, reset)
            return decision
        finally:
            if self._taking.get(bucket) is taking:
                del self._taking[bucket]
            taking.set_result(decision)
