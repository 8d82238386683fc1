"""A request for a link mailed to an address (a password reset, a recipient's page), counted
before anything is looked up: per client address and per address (its digest: no address is
kept in Redis), past either refused with the caller's code, and refused too (503) when Redis
cannot count, since the bound is on mail sent to strangers."""

import hashlib

from ..ratelimit import Limit, LimiterUnavailable, hit_all
from ..redis_client import Redis
from ..values.codes import Code
from ..values.outcome import ApiError

__all__ = ["WINDOW_SECONDS", "count_request"]

WINDOW_SECONDS = 3600


async def count_request(
    redis: Redis,
    kind: str,
    *,
    client: str,
    email: str,
    per_client: int,
    per_address: int,
    refused: Code,
) -> None:
    """Counts one request of ``kind`` (the buckets' prefix) from ``client`` for ``email``
    (canonical), each limit an hour; ``ApiError(refused)`` past either, with the retry of the
    window that ends last."""
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    limits = [
        Limit(f"{kind}:client:{client}", per_client, WINDOW_SECONDS),
        Limit(f"{kind}:address:{digest}", per_address, WINDOW_SECONDS),
    ]
    try:
        decisions = await hit_all(redis, limits, closed=True)
    except LimiterUnavailable:
        raise ApiError(Code.SERVICE_UNAVAILABLE) from None
    over = [d for d in decisions if not d.allowed]
    if over:
        worst = max(over, key=lambda d: d.reset_seconds)
        raise ApiError(refused, data=worst.data(), headers=worst.headers())
