"""A fixed-window rate limiter in Redis, shared by every gateway process.

A bucket is one Redis key holding a count, and its TTL is what is left of its window: the first
hit creates it with the window as its TTL, and the window ends for every process at once when
Redis expires the key. One Lua script reads, increments only if there is room, and reads the TTL,
in one atomic round trip: concurrent hits never admit more than ``limit`` in a window, and the
reset (so ``Retry-After``) comes from Redis's own clock, whatever the gateways' clocks say.

A refused hit counts nothing, so a client that keeps knocking does not push its own window on;
``peek`` (cost 0) asks whether a hit would be admitted without counting one, for limits that
count only failures (``gateway.lockout``).

Redis not answering is ``LimiterUnavailable``; each caller decides whether that admits the
request (fail open) or refuses it (fail closed), and says why.
"""

import asyncio
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError, RedisError

__all__ = ["Decision", "Limit", "LimiterUnavailable", "hit", "hit_all", "peek_all"]

# Per bucket: KEYS[i], ARGV = cost, then limit and window (ms) for each bucket in turn.
# Returns allowed (1/0), count and TTL (ms) per bucket.
_LUA = b"""
local cost = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local count = tonumber(redis.call('GET', key) or '0')
  local allowed = 0
  if count + math.max(cost, 1) <= limit then
    allowed = 1
    if cost > 0 then
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
_SHA = hashlib.sha1(_LUA).hexdigest()  # noqa: S324 (Redis names scripts by their SHA-1)
# Keys of this module's own, apart from ARQ's.
_NAMESPACE = "aitopup:ratelimit:"
# A limiter that cannot answer within this is treated as down: a request must not wait on it.
_DEADLINE_SECONDS = 0.5


class LimiterUnavailable(Exception):
    """Redis did not answer the limiter in time, or at all."""


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


async def _run(redis: Any, limits: Sequence[Limit], cost: int) -> list[Decision]:
    keys = [_NAMESPACE + each.bucket for each in limits]
    args: list[int] = [cost]
    for each in limits:
        args += [each.limit, each.window_seconds * 1000]
    try:
        async with asyncio.timeout(_DEADLINE_SECONDS):
            try:
                raw = await redis.evalsha(_SHA, len(keys), *keys, *args)
            except NoScriptError:  # a new or flushed server: EVAL loads it for next time
                raw = await redis.eval(_LUA, len(keys), *keys, *args)
    except (RedisError, OSError, TimeoutError) as exc:
        raise LimiterUnavailable(str(exc) or type(exc).__name__) from exc
    values = [int(v) for v in raw]
    return [
        Decision(
            allowed=values[3 * i] == 1,
            limit=each.limit,
            remaining=max(0, each.limit - values[3 * i + 1]),
            reset_seconds=values[3 * i + 2] / 1000,
        )
        for i, each in enumerate(limits)
    ]


async def hit(redis: Any, bucket: str, limit: int, window_seconds: int) -> Decision:
    """Count one event in ``bucket`` if the window has room; say whether it had."""
    return (await _run(redis, [Limit(bucket, limit, window_seconds)], 1))[0]


async def hit_all(redis: Any, limits: Sequence[Limit]) -> list[Decision]:
    """``hit`` on several buckets in one round trip; each counts where it has room."""
    return await _run(redis, limits, 1)


async def peek_all(redis: Any, limits: Sequence[Limit]) -> list[Decision]:
    """Whether a hit on each bucket would be admitted now, counting nothing."""
    return await _run(redis, limits, 0)
