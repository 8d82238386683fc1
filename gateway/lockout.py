"""Lockouts after failed authentication, shared by every gateway process.

Failed attempts are counted (``ratelimit``) per client address and, for API keys, per pair of
client and key prefix (a stranger's failures from elsewhere never lock the key's owner out);
once a bucket is full, every attempt on it is refused until its window ends, the right credential
as well as a wrong one, as GitHub does after repeated bad credentials: a lockout that still let
the right one through would only tell a guesser which guess was right. Successful attempts count
nothing, so a busy client with a good key is never locked out by its own traffic.

Every authenticated request asks whether its buckets are locked. To keep Redis off the hot path,
a process remembers for ``RECHECK_SECONDS`` that a bucket was open, and until its window ends that
it was locked; its own failures update that memory at once. A lockout reached in another process
takes effect here within ``RECHECK_SECONDS``.

Fail open for API keys: with Redis down nothing is locked and failures are counted only once it
answers (a warning is logged, and Redis is asked again after ``RECHECK_SECONDS``). Keys are 32
random base62 characters the gateway made, so an outage does not make guessing one practical, while
failing closed would refuse every merchant. The admin token is the operator's, chosen by a
person (at least 32 characters, not necessarily random), so its lockout fails closed as a
password's does (``admit``): with Redis down or too slow to count, the admin API answers 503
before any check.
Passwords are another matter: people choose them, so a guess can be right. An attempt counted
before a password's check (``attempt``) fails closed: Redis down, or slower than the limiter's
deadline, raises ``LimiterUnavailable`` and the caller refuses the attempt (503) rather than
check it uncounted.

No failure goes uncounted because Redis missed a moment. A failure Redis cannot take when it
happens (down, past its deadline, or known down since another call missed: ``RECHECK_SECONDS``)
is owed: this process keeps it and counts it before its next lockout check, any client's, and
``admit`` refuses (``LimiterUnavailable``) rather than check a secret while a failure is owed
and cannot be counted. A failure counted by Redis after the deadline had passed may so be counted
twice: the error is toward the limit. What is owed is bounded by the checks in flight when Redis
went away, since none starts while a debt cannot be paid.

Such a count before the check (``admit``) holds the attempts still being checked as well as the
failures, so that a burst is checked no further than the limit. A full count is therefore not
yet a lockout: the failures alone are counted apart (``refused``, a bucket of their own, in
Redis where every process sees it), and only those lock a client out. A right secret sent many
times at once waits for the checks ahead of it (at most ``CLOSED_DEADLINE_SECONDS``, then 429
with ``Retry-After: 1``) and is never locked out by its own successes; this process remembers a
lockout only once its failures filled the bucket. The checks in flight are held for at most
``IN_FLIGHT_SECONDS`` whatever the lockout's window: a count not given back (Redis slower than
its deadline just then) keeps a client waiting for that long, never for the lockout's window.
"""

import asyncio
import contextlib
import functools
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence

from starlette.requests import HTTPConnection

from .ratelimit import (
    CLOSED_DEADLINE_SECONDS,
    OPEN_DEADLINE_SECONDS,
    Decision,
    Limit,
    LimiterUnavailable,
    hit_all,
    peek_all,
    release_all,
)
from .redis_client import Redis
from .values.settings import Settings

__all__ = ["IN_FLIGHT_SECONDS", "RECHECK_SECONDS", "Lockout", "client_address"]

log = logging.getLogger(__name__)

# The settings' default (``lockout_recheck_seconds``).
RECHECK_SECONDS: float = Settings.model_fields["lockout_recheck_seconds"].default
# How soon an attempt that found the count full of checks in flight asks again, the wait
# doubling each time up to the last: a burst asks Redis a few times each, not every moment.
_BUSY_POLL_SECONDS = (0.01, 0.25)
# The wait a busy client is told: the checks ahead of it end within a moment.
_BUSY_RETRY_SECONDS = 1.0
_MEMORY = 10_000  # buckets remembered; past it the memory starts afresh
# The longest an attempt counted before its check holds its place (a check takes a moment; the
# failures, counted apart, hold the lockout's whole window).
IN_FLIGHT_SECONDS = 30
_WARN_EVERY_SECONDS = 10.0


def client_address(conn: HTTPConnection) -> str:
    """The client as the limits see it: its IPv4 address, or its IPv6 /64 (one subscriber's
    usual allocation, so rotating addresses inside it gains nothing). Behind a reverse proxy
    this is the address the proxy forwards (``AITOPUP_FORWARDED_ALLOW_IPS``)."""
    return _as_limited(conn.client.host if conn.client is not None else "")


# Every request is judged by its client's address, and a client sends many: parsing each host
# once spares ``ipaddress`` its work on every request.
@functools.lru_cache(maxsize=_MEMORY)
def _as_limited(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Lockout:
    """One process's view of the lockouts; ``clock`` is monotonic seconds."""

    def __init__(
        self,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        in_flight_seconds: int = IN_FLIGHT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        answer_within: float = OPEN_DEADLINE_SECONDS,
    ) -> None:
        self.recheck_seconds = recheck_seconds
        self._in_flight = in_flight_seconds
        self._clock = clock
        # How long a look or count that fails open waits for Redis (``redis_answer_seconds``).
        self._answer_within = answer_within
        # bucket -> (until when this is known, the lockout's decision or None for open)
        self._known: dict[str, tuple[float, Decision | None]] = {}
        # Redis failed to answer: until then nothing asks it again (a hung server would cost
        # every request the limiter's whole deadline).
        self._down_until = float("-inf")
        self._warned_at = float("-inf")
        # bucket -> (its limit, failures Redis has not yet counted there)
        self._owed: dict[str, tuple[Limit, int]] = {}

    async def locked(
        self, redis: Redis, limits: Sequence[Limit], *, fail_open: bool = True
    ) -> Decision | None:
        """The lockout in force on any of these buckets, or ``None``. ``fail_open`` false:
        Redis is asked every time a bucket is not known locked (never this process's memory
        that it was open), and ``LimiterUnavailable`` when it cannot say (now or within
        ``RECHECK_SECONDS``): the check it guards must not be made."""
        now = self._clock()
        if now < self._down_until:
            if not fail_open:
                raise LimiterUnavailable("Redis failed to answer the limiter a moment ago")
            return None
        if self._owed:
            try:
                await self._pay(redis)
            except LimiterUnavailable:
                if not fail_open:
                    raise
                return None
        unknown = not fail_open
        for each in limits:
            known = self._known.get(each.bucket)
            if known is None or known[0] <= now:
                unknown = True
            elif known[1] is not None:
                return _remaining(known[1], known[0] - now)
        if not unknown:
            return None
        try:
            decisions = await peek_all(
                redis, limits, closed=not fail_open, answer_within=self._answer_within
            )
        except LimiterUnavailable as exc:
            self._unavailable(exc, fail_open=fail_open)
            if not fail_open:
                raise
            return None
        found = [None if d.allowed else d for d in decisions]
        self._remember(limits, found, now)
        return next((d for d in found if d is not None), None)

    async def failed(self, redis: Redis, limits: Sequence[Limit]) -> Decision | None:
        """Count one failed attempt on every bucket. The lockout if this attempt found a
        bucket already full (another process filled it meanwhile), else ``None``. Redis not
        answering admits (fail open), the failure owed until it answers."""
        try:
            return await self._count(redis, limits)
        except LimiterUnavailable:
            self._owe(limits)
            return None

    async def admit(self, redis: Redis, limits: Sequence[Limit]) -> Decision | None:
        """Fail closed, for a secret a person chose: the lockout in force (refuse, 429), else
        the attempt counted before its check (``attempt``) and ``None``: check it, then give
        the count back with ``succeeded`` when it passes, or count the failure with ``refused``.
        A count full of checks still in flight is waited on (``CLOSED_DEADLINE_SECONDS``) and
        then refused for a second, never as a lockout. ``LimiterUnavailable`` when Redis cannot
        say or count (refuse, 503): never a check that goes uncounted."""
        failures = _failures_of(limits)
        now = self._clock()
        for each in failures:
            known = self._known.get(each.bucket)
            if known is not None and known[0] > now and known[1] is not None:
                return _remaining(known[1], known[0] - now)
        if self._owed:
            await self._pay(redis)  # no check while a failure goes uncounted
        give_up = now + CLOSED_DEADLINE_SECONDS
        pause = _BUSY_POLL_SECONDS[0]
        while True:
            # The failures first: they hold the lockout's whole window, the attempts in flight
            # only moments, so a full count of attempts is no sign of a lockout, nor its absence.
            locked = await self._failures_full(redis, failures)
            if locked is not None:
                return locked
            full = await self.attempt(redis, limits)
            if full is None:
                return None
            if self._clock() >= give_up:
                return Decision(False, full.limit, 0, _BUSY_RETRY_SECONDS)
            await asyncio.sleep(pause)
            pause = min(2 * pause, _BUSY_POLL_SECONDS[1])

    async def _failures_full(self, redis: Redis, failures: Sequence[Limit]) -> Decision | None:
        now = self._clock()
        try:
            found = await peek_all(redis, failures, closed=True, answer_within=self._answer_within)
        except LimiterUnavailable as exc:
            self._unavailable(exc, fail_open=False)
            raise
        full = [d for d in found if not d.allowed]
        if not full:
            return None
        self._remember(failures, [None if d.allowed else d for d in found], now)
        return max(full, key=lambda d: d.reset_seconds)

    async def refused(self, redis: Redis, limits: Sequence[Limit]) -> None:
        """The check ``admit`` let through failed: its attempt stays counted, and the failure
        is counted where lockouts are judged. Redis not answering now (or known down a moment
        ago), the failure is owed: counted before this process's next check, which waits on it."""
        self._owe(_failures_of(limits))
        with contextlib.suppress(LimiterUnavailable):  # else still owed
            await self._pay(redis)

    def _owe(self, limits: Sequence[Limit], times: int = 1) -> None:
        for each in limits:
            _, before = self._owed.get(each.bucket, (each, 0))
            self._owed[each.bucket] = (each, before + times)

    async def _pay(self, redis: Redis) -> None:
        """Count every failure owed, one hit a round trip per bucket (a full bucket takes no
        more, and is a lockout already); ``LimiterUnavailable``, the rest still owed, when
        Redis does not answer. Taken off the books first, so two payers never count one twice."""
        while self._owed:
            if self._clock() < self._down_until:
                raise LimiterUnavailable("Redis failed to answer the limiter a moment ago")
            owed = list(self._owed.values())
            self._owed.clear()
            try:
                await hit_all(
                    redis,
                    [each for each, _ in owed],
                    closed=True,
                    answer_within=self._answer_within,
                )
            except LimiterUnavailable as exc:
                for each, times in owed:
                    self._owe([each], times)
                self._unavailable(exc, fail_open=False)
                raise
            for each, times in owed:
                self._known.pop(each.bucket, None)  # ask Redis what it now holds
                if times > 1:
                    self._owe([each], times - 1)

    async def attempt(self, redis: Redis, limits: Sequence[Limit]) -> Decision | None:
        """Count an attempt before its costly check (a password hash) as if it failed: the
        lockout if a bucket had no room (then skip the check), else ``None``. A concurrent
        burst is counted as it arrives, so no more than a bucket's room is ever checked.
        ``succeeded`` gives the count back when the check passes. Fails closed: when Redis
        cannot count the attempt (down, or past the limiter's deadline, now or within
        ``RECHECK_SECONDS``), ``LimiterUnavailable``, and the check must not be made."""
        return await self._count(redis, self._in_flight_of(limits), fail_open=False)

    async def _count(
        self, redis: Redis, limits: Sequence[Limit], *, fail_open: bool = True
    ) -> Decision | None:
        now = self._clock()
        if now < self._down_until:
            raise LimiterUnavailable("Redis failed to answer the limiter a moment ago")
        try:
            # Before the check (not ``fail_open``) an attempt refused counts nowhere: it was
            # not checked, so a bucket with room takes nothing either.
            decisions = await hit_all(
                redis,
                limits,
                closed=not fail_open,
                answer_within=self._answer_within,
                whole=not fail_open,
            )
        except LimiterUnavailable as exc:
            self._unavailable(exc, fail_open=fail_open)
            raise
        if fail_open:  # counted after the check: each count a failure, a full bucket a lockout
            self._remember(
                limits, [None if d.allowed and d.remaining else _full(d) for d in decisions], now
            )
        return next((_full(d) for d in decisions if not d.allowed), None)

    async def succeeded(self, redis: Redis, limits: Sequence[Limit]) -> None:
        """Give back what ``attempt`` counted: a success counts nothing."""
        for each in limits:
            self._known.pop(each.bucket, None)
        await self._give_back(redis, self._in_flight_of(limits))

    async def _give_back(self, redis: Redis, limits: Sequence[Limit]) -> None:
        if self._clock() < self._down_until:
            return
        try:
            await release_all(redis, limits)
        except LimiterUnavailable as exc:  # the count stays: toward the limit
            self._unavailable(exc, fail_open=False)

    def _in_flight_of(self, limits: Sequence[Limit]) -> list[Limit]:
        """The buckets of attempts counted before their checks: a window of ``IN_FLIGHT_SECONDS``
        at most, so that one never given back stops holding its place soon."""
        return [
            Limit(each.bucket, each.limit, min(each.window_seconds, self._in_flight))
            for each in limits
        ]

    def _remember(
        self, limits: Sequence[Limit], found: Sequence[Decision | None], now: float
    ) -> None:
        if len(self._known) > _MEMORY:
            self._known.clear()
        for each, decision in zip(limits, found, strict=True):
            until = now + (decision.reset_seconds if decision is not None else self.recheck_seconds)
            self._known[each.bucket] = (until, decision)

    def _unavailable(self, exc: LimiterUnavailable, *, fail_open: bool = True) -> None:
        now = self._clock()
        self._down_until = now + self.recheck_seconds
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            failing = "failing open" if fail_open else "refusing the checks it guards"
            log.warning("authentication lockouts unavailable, %s: %s", failing, exc)


def _failures_of(limits: Sequence[Limit]) -> list[Limit]:
    """The buckets of failed checks alone, beside the attempts' (which hold checks in flight)."""
    return [Limit(f"{each.bucket}:failed", each.limit, each.window_seconds) for each in limits]


def _full(decision: Decision) -> Decision:
    return Decision(False, decision.limit, 0, decision.reset_seconds)


def _remaining(decision: Decision, seconds: float) -> Decision:
    return Decision(False, decision.limit, 0, seconds)
