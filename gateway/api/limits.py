"""Per-merchant rate limits on the calls that cost the gateway most for what they give: a
redemption attempt (a guess at a bearer code) and the calls that make the worker send
(test events, replays, recovering failed deliveries).

Every call counts, whatever it finds: the count is taken before the work, in one atomic step, so
concurrent calls never get past the limit. Fail closed: with Redis down these calls answer 503
(``SERVICE_UNAVAILABLE``), since letting them through would lift the very bound they exist for,
while every other request goes on.
"""

import logging

from ..codes import Code
from ..outcome import ApiError
from ..ratelimit import Decision, LimiterUnavailable, hit
from ..services import Services

__all__ = ["within"]

log = logging.getLogger(__name__)


async def within(svc: Services, bucket: str, limit: int, refused: Code) -> Decision:
    """Count one call in ``bucket`` (a minute's window); ``refused`` (429) past ``limit``.
    The decision's ``headers()`` go on the reply."""
    try:
        decision = await hit(svc.redis, bucket, limit, 60)
    except LimiterUnavailable as exc:
        log.warning("rate limiter unavailable, refusing %s: %s", bucket.partition(":")[0], exc)
        raise ApiError(
            Code.SERVICE_UNAVAILABLE, "Rate limiter unavailable; retry shortly"
        ) from None
    if not decision.allowed:
        raise ApiError(refused, data=decision.data(), headers=decision.headers())
    return decision
