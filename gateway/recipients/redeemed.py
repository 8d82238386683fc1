"""Whether a recipient's code was redeemed upstream, for their page: the search the gateway
already makes of an upstream that reads its codes (``providers.ReadsCodes``: New API's
``code_state``), bounded. Each answer is kept in Redis a
short while (a spent code longer: it stays spent), a page asks the upstream at most once per
code and for at most ``MAX_ASKED`` codes, and a failing upstream makes the answer ``unknown``:
never a broken page.

The cache is what bounds the look-ups, so it fails closed: whoever holds a link may load the
page as often as they like, and the upstream they would make the gateway ask is the merchant's.
When Redis does not answer within ``CACHE_SECONDS``, nothing is asked and every code is
``unknown``."""

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from keys import Sealer

from ..redis_client import ANSWER_WITHIN, Redis
from ..store.engine import Database
from ..upstreams import config, providers
from ..upstreams.clients import UpstreamError
from ..upstreams.outbound import Upstreams

__all__ = ["CACHE_SECONDS", "MAX_ASKED", "SPENT", "UNKNOWN", "UNUSED", "Asked", "CodeStates"]

log = logging.getLogger(__name__)

SPENT = "spent"
UNUSED = "unused"
UNKNOWN = "unknown"
MAX_ASKED = (
    10  # codes a page view asks the upstream about, newest first; the rest: cached or unknown
)
# Seconds an answer is kept; anything else: _SHORT. An unused code's answer is short: the
# recipient who just redeemed it comes back to their page within seconds to see it spent.
_TTL = {SPENT: 86_400, UNKNOWN: 10, UNUSED: 5}
_SHORT = 30
_PREFIX = "redeemed:"
# A page must not wait on the cache.
CACHE_SECONDS = ANSWER_WITHIN


@dataclass(frozen=True, slots=True)
class Asked:
    """One of the page's New API codes: its top-up, platform, the name New API knows it by."""

    topup_id: str
    platform: str
    reference: str
    code: str


def _key(code: str) -> str:
    return _PREFIX + hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CodeStates:
    redis: Redis
    upstreams: Upstreams
    sealer: Sealer

    async def _cached(self, codes: Sequence[str]) -> list[str | None] | None:
        """Each code's kept answer (``None``: not kept), or ``None`` when Redis cannot say."""
        try:
            async with asyncio.timeout(CACHE_SECONDS):
                found = await self.redis.mget([_key(c) for c in codes])
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("code states: Redis unavailable, the upstream not asked: %r", exc)
            return None
        return [f.decode() if isinstance(f, bytes) else f for f in found]

    async def _keep(self, code: str, state: str) -> None:
        try:
            async with asyncio.timeout(CACHE_SECONDS):
                await self.redis.set(_key(code), state, ex=_TTL.get(state, _SHORT))
        except (RedisError, OSError, TimeoutError):
            log.warning("code states: Redis unavailable, answer not kept")

    async def states(
        self, db: Database, merchant_id: str, env: str, asked: Sequence[Asked]
    ) -> dict[str, str]:
        """Each asked code's state by its top-up's id: ``spent``, ``unused``, ``disabled`` or
        ``unknown``."""
        if not asked:
            return {}
        cached = await self._cached([a.code for a in asked])
        if cached is None:
            return {a.topup_id: UNKNOWN for a in asked}
        states = {a.topup_id: s for a, s in zip(asked, cached, strict=True) if s is not None}
        missing = [a for a in asked if a.topup_id not in states]
        by_platform: dict[str, providers.CodeStates | None] = {}
        async with db.read() as conn:
            for platform in {a.platform for a in missing[:MAX_ASKED]}:
                upstream = await config.load(conn, self.sealer, merchant_id, env, platform)
                found = None if upstream is None else providers.get(upstream.provider)
                made = None
                if upstream is not None and isinstance(found, providers.ReadsCodes):
                    made = found.code_states(upstream, self.upstreams.for_env(env))
                by_platform[platform] = made

        async def ask(one: Asked) -> str:
            reading = by_platform.get(one.platform)
            if reading is None:
                return UNKNOWN
            try:
                state = await reading.code_state(one.reference, one.code)
            except UpstreamError as exc:
                log.info("code state of %s: %s (%s)", one.topup_id, exc.outcome, exc.detail)
                state = None
            answer = state or UNKNOWN
            await self._keep(one.code, answer)
            return answer

        answers = await asyncio.gather(*(ask(a) for a in missing[:MAX_ASKED]))
        states.update({a.topup_id: s for a, s in zip(missing, answers, strict=False)})
        for one in missing[MAX_ASKED:]:
            states[one.topup_id] = UNKNOWN
        return states
