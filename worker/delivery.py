"""One delivery attempt: claim it in the database, sign the exact bytes, POST, log, reschedule.

The ARQ task is a thin shell; ``_deliver`` is the core. Any number of worker processes may run it
at once: an attempt is claimed by one conditional UPDATE (due, pending) that also moves
``next_attempt_at`` to a lease, so a second worker finds nothing to do, and a worker killed
mid-attempt leaves a lease that expires into the sweep's hands.

What a receiver answers is bounded on the way in (its head by ``connections.HeadLimits``, its
body read to ``RESPONSE_CAP``) and again in what the attempt row keeps of it.
"""

import asyncio
import email.utils
import functools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from gateway import outbox
from gateway.ops.metrics import observe_delivery_attempt
from gateway.store.db import Database
from gateway.store.models import WebhookEndpoint, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from gateway.webhooks.bodies import read_capped
from gateway.webhooks.connections import HeadTooLarge
from keys import Sealer, decode_webhook_secret, sign_headers

from .batch import each_at_once
from .http import USER_AGENT, Outbound
from .queue import HOLD, Load, Shares
from .store import Claim, Record, Store

__all__ = ["RESPONSE_CAP", "Attempt", "Deps", "deliver", "deliver_many", "retry_after_seconds"]

log = logging.getLogger("aitopup.delivery")

RESPONSE_CAP = 4096
# What the attempt row keeps of a response's headers: the first ones, each cut short. The head
# on the wire may hold far more (``HeadLimits``), and the delivery log serves back what is kept.
STORED_HEADERS = 50
STORED_NAME = 128
STORED_VALUE = 512
RETRY_AFTER_CAP = 3600.0
CONNECT_TIMEOUT = 5.0
# How long a claimed attempt may run before the sweep may hand it to another worker.
LEASE_MARGIN = 5.0

_EP = table_of(WebhookEndpoint)


@dataclass(slots=True)
class Deps:
    """What a delivery needs, opened once per worker process."""

    settings: Settings
    db: Database
    store: Store
    sealer: Sealer
    outbound: dict[str, Outbound]
    redis: Any  # arq.ArqRedis
    # Attempts in flight, at most one per connection (``webhook_max_connections``): an attempt
    # is claimed, and its timeout started, only when it can be sent at once.
    sending: asyncio.Semaphore
    # Deliveries taken by this process and not yet sent: the worker takes jobs while it has room.
    load: Load
    # Each merchant's share of the connections (``webhook_merchant_connections``).
    shares: Shares = field(init=False)
    _keys: dict[str, bytes] = field(default_factory=dict)
    _merchants: dict[str, str] = field(default_factory=dict)
    _looking_up: dict[str, asyncio.Future[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shares = Shares(self.settings.webhook_merchant_connections, hold=HOLD)

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

    async def merchant_of(self, endpoint_id: str) -> str:
        """Whose endpoint this is: read once per endpoint (an endpoint never changes hands) and
        kept; a lookup in progress is shared by every delivery waiting on it. An endpoint not
        found (never in a real delivery) stands for itself."""
        found = self._merchants.get(endpoint_id)
        if found is not None:
            return found
        pending = self._looking_up.get(endpoint_id)
        if pending is None:
            pending = asyncio.ensure_future(self._look_up(endpoint_id))
            self._looking_up[endpoint_id] = pending
        return await asyncio.shield(pending)

    async def _look_up(self, endpoint_id: str) -> str:
        try:
            async with self.db.read() as conn:
                merchant = (
                    await conn.execute(select(_EP.c.merchant_id).where(_EP.c.id == endpoint_id))
                ).scalar()
        finally:
            del self._looking_up[endpoint_id]
        if len(self._merchants) > 100_000:
            self._merchants.clear()
        found = self._merchants[endpoint_id] = merchant or endpoint_id
        return found


@dataclass(slots=True)
class Attempt:
    """What happened on the wire."""

    status: int | None = None
    headers: dict[str, str] | None = None  # what the attempt row keeps (``_kept_headers``)
    body: str | None = None
    error: str | None = None
    retry_after: str | None = None  # read from every header, not only those kept

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), RETRY_AFTER_CAP)


def _kept_headers(headers: httpx.Headers) -> dict[str, str]:
    """The first ``STORED_HEADERS`` header names, each value cut to ``STORED_VALUE``; a name
    sent more than once keeps its values joined, as ``Headers.items`` joins them."""
    kept: dict[str, str] = {}
    for name, value in headers.multi_items():
        name = name[:STORED_NAME]
        before = kept.get(name)
        if before is not None:
            value = f"{before}, {value}"
        elif len(kept) == STORED_HEADERS:
            continue
        kept[name] = value[:STORED_VALUE]
    return kept


def _describe(exc: Exception) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, HeadTooLarge):
        return detail[:500]  # says what it is: "response headers too large: …"
    if isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.ConnectError):
        kind = "connect failed"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        kind = "connection broken"
    else:
        kind = "request failed"
    return f"{kind}: {detail}"[:500]


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> tuple[httpx.URL, bytes]:
    """An endpoint's URL parsed, and its ``Host`` header. Parsing is most of what building an
    ``httpx.Request`` from a string costs; an endpoint's URL is the same on every delivery, and
    ``httpx.URL`` is immutable, so one parse serves them all."""
    parsed = httpx.URL(url)
    return parsed, parsed.netloc


@functools.lru_cache(maxsize=64)
def _timeouts(deadline: float) -> dict[str, float]:
    return {"connect": min(CONNECT_TIMEOUT, deadline), "read": deadline, "write": deadline}


def _request(url: str, body: bytes, headers: dict[str, str], deadline: float) -> httpx.Request:
    """The attempt as an ``httpx.Request`` with its headers already encoded and its ``Host`` and
    ``Content-Length`` set, which is what httpx would add. Given text headers and a ``content``,
    httpx normalises and searches its header list once per header it adds: several times the
    cost of the rest of the request, for headers this module writes itself."""
    target, host = _target(url)
    raw = [(b"Host", host), (b"Content-Length", str(len(body)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in headers.items()]
    request = httpx.Request(
        "POST",
        target,
        stream=httpx.ByteStream(body),
        headers=raw,
        extensions={"timeout": _timeouts(deadline)},
    )
    request.read()  # in memory already; reading it here spares the transport an async read
    return request


async def post(
    transport: httpx.AsyncBaseTransport,
    url: str,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
) -> Attempt:
    """One signed POST, never following a redirect, with ``deadline`` on the whole exchange
    (``WebhookTransport``'s read timeout), so a receiver that trickles bytes cannot hold the
    attempt past it.

    The request goes to the shared client's transport as an ``httpx.Request``: a delivery needs
    none of the client's cookie jar (a receiver's cookies must not ride along to the next one),
    auth, redirects or header merging, which cost several times the CPU of the request itself."""
    result = Attempt()
    location = ""
    try:
        request = _request(url, body, headers, deadline)
        response = await transport.handle_async_request(request)
        try:
            result.status = response.status_code
            result.headers = _kept_headers(response.headers)
            result.retry_after = response.headers.get("retry-after")
            location = response.headers.get("location", "")
            raw = await read_capped(response, RESPONSE_CAP)
            result.body = raw.decode("utf-8", errors="replace")
        finally:
            await response.aclose()
    except httpx.ReadTimeout:
        result.error = f"timeout: no complete response within {deadline:g}s"
    except httpx.HTTPError as exc:
        result.error = _describe(exc)
    except httpx.InvalidURL as exc:  # saved before the URL check refused its form
        result.error = f"URL refused: {exc}"[:500]
    if result.error is None and result.status is not None and not 200 <= result.status < 300:
        if 300 <= result.status < 400:
            result.error = f"redirect not followed: HTTP {result.status} to {location}"[:500]
        else:
            result.error = f"HTTP {result.status}"
    return result


def _plan(
    settings: Settings, claim: Claim, attempt: Attempt, started: datetime, finished: datetime
) -> tuple[str, datetime | None, str | None]:
    """The delivery's status after this attempt, when to try next, and why to disable."""
    delays = settings.retry_delays
    run_length = 1 if claim.trigger == "replay" else len(delays)
    index = claim.attempts - claim.run_start  # position of this attempt within its run
    next_at: datetime | None = None
    disable_reason: str | None = None
    if attempt.succeeded:
        status = "succeeded"
    elif attempt.status == 410:
        status = "failed"
        disable_reason = "endpoint answered 410 Gone"
    elif index + 1 < run_length:
        status = "pending"
        delay = delays[index + 1]
        if attempt.status in (429, 503):
            asked = retry_after_seconds(attempt.retry_after, finished)
            if asked is not None:
                delay = max(delay, asked)
        next_at = finished + timedelta(seconds=delay)
    else:
        status = "failed"
    if (
        disable_reason is None
        and not attempt.succeeded
        and claim.failing_since is not None
        and (started - claim.failing_since).total_seconds()
        >= settings.webhook_disable_after_seconds
    ):
        disable_reason = (
            f"failing since {claim.failing_since.isoformat()} "
            f"(over {settings.webhook_disable_after_seconds}s)"
        )
        status, next_at = "failed", None
    return status, next_at, disable_reason


@dataclass(slots=True)
class _Sent:
    claim: Claim
    headers: dict[str, str]
    attempt: Attempt
    started: datetime
    finished: datetime
    seconds: float


async def _send(deps: Deps, delivery_id: str) -> _Sent | str:
    """Claim the attempt that is due and make it, in one of its merchant's slots (``Shares``);
    why not, when there is none, or when the merchant's slots stay taken (put off).

    The slot is taken after the claim, so that claims keep being batched by the whole room
    (``Store``) and a delivery put off is already held; the wait for it is at most
    ``queue.HOLD``, inside the lease's margin."""
    claim = await deps.store.claim(delivery_id)
    if claim is None:
        return "skipped"
    if isinstance(claim, str):
        return claim
    merchant = await deps.merchant_of(claim.endpoint_id)
    if not await deps.shares.acquire(merchant):
        return await _put_off(deps, claim)
    try:
        return await _make_attempt(deps, claim)
    finally:
        deps.shares.release(merchant)


async def _make_attempt(deps: Deps, claim: Claim) -> _Sent:
    """Sign the claimed attempt's exact bytes and POST them."""
    delivery_id = claim.delivery_id
    now = utcnow()
    keys = [deps.signing_key(claim.endpoint_id, claim.secret_sealed)]
    if claim.previous_secret_sealed and (claim.previous_secret_expires_at or now) > now:
        keys.append(deps.signing_key(claim.endpoint_id, claim.previous_secret_sealed))
    body = claim.payload.encode()
    headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "X-AiTopUp-Event": claim.type,
        "X-AiTopUp-Delivery": delivery_id,
        # webhook-id is the event id: stable across retries and replays, so receivers dedupe.
        **sign_headers(keys, claim.event_id, int(time.time()), body),
    }
    started = utcnow()
    clock = time.perf_counter()
    attempt = await post(
        deps.outbound[claim.env].transport,
        claim.url,
        body,
        headers,
        deps.settings.webhook_timeout_seconds,
    )
    seconds = time.perf_counter() - clock
    return _Sent(claim, headers, attempt, started, utcnow(), seconds)


async def _put_off(deps: Deps, claim: Claim) -> str:
    """Hand a claimed delivery back to the queue unsent, while its merchant's connections stay
    taken: its claim keeps every worker off it, and its job comes back when that claim's lease
    ends. It is not an attempt: the delivery log, the attempt count and the retry schedule are
    as they were."""
    # The lease the claim took (``worker.__main__`` builds the store with it), counted from
    # after the claim, so the job never wakes before the delivery is due again.
    lease = deps.settings.webhook_timeout_seconds + LEASE_MARGIN
    due = utcnow() + timedelta(seconds=lease)
    await outbox.enqueue_jobs(deps.redis, [(claim.delivery_id, claim.generation)], defer_until=due)
    return "put off"


async def _deliver(deps: Deps, delivery_id: str, job_id: str | None = None) -> str:
    """Run the attempt that is due, if one is; the outcome, for the job result and the tests.

    A burst larger than the pool waits here, before its claim, rather than for a connection
    inside the attempt: there the wait would count against the receiver's timeout, and a long
    one would outlast the claim's lease. Then it waits, briefly, for one of its merchant's own
    slots (``Shares``), so another merchant's slow receivers never hold it up, and is put off
    when its merchant's slots stay taken. Once sent, the delivery no longer counts against the
    worker's room (``Load``): recording it needs no connection."""
    try:
        async with deps.sending:
            sent = await _send(deps, delivery_id)
    finally:
        if job_id is not None:
            deps.load.one_done(job_id)
    if isinstance(sent, str):
        return sent
    settings, claim, attempt = deps.settings, sent.claim, sent.attempt
    started, finished, headers, seconds = sent.started, sent.finished, sent.headers, sent.seconds
    duration_ms = int(seconds * 1000)

    status, next_at, disable_reason = _plan(settings, claim, attempt, started, finished)
    notify = await deps.store.record(
        Record(
            claim=claim,
            status=status,
            next_at=next_at,
            started=started,
            finished=finished,
            duration_ms=duration_ms,
            request_headers=headers,
            response_status=attempt.status,
            response_headers=attempt.headers,
            response_body=attempt.body,
            error=attempt.error,
            disable_reason=disable_reason,
        )
    )
    if next_at is not None:
        generation = claim.generation + 1
        await outbox.enqueue_jobs(deps.redis, [(delivery_id, generation)], defer_until=next_at)
    if notify:
        await outbox.enqueue(deps.redis, notify)
    outcome = "succeeded" if attempt.succeeded else ("retrying" if next_at else "failed")
    observe_delivery_attempt(outcome, seconds)
    # A line a success would be most of a busy worker's log, and a measurable part of its CPU a
    # delivery (docs/performance.md): by default only what failed is logged.
    if not attempt.succeeded or settings.webhook_log_successes:
        log.info(
            "delivery attempt",
            extra={
                "delivery_id": delivery_id,
                "endpoint_id": claim.endpoint_id,
                "attempt": claim.attempts + 1,
                "trigger": claim.trigger,
                "status": attempt.status,
                "outcome": outcome,
                "duration_ms": duration_ms,
                "error": attempt.error,
            },
        )
    return outcome


async def deliver(ctx: dict[str, Any], delivery_id: str, generation: int = 0) -> str:
    """ARQ task ``deliver``. ``generation`` only makes the job id unique; the row decides."""
    deps: Deps = ctx["deps"]
    return await _deliver(deps, delivery_id, ctx.get("job_id"))


async def deliver_many(ctx: dict[str, Any], delivery_ids: list[str]) -> dict[str, int]:
    """ARQ task ``deliver_many``: one job for many deliveries, so the queue's own cost (several
    Redis trips a job) is paid once per batch; each attempted as ``deliver`` would
    (``batch.each_at_once``)."""
    deps: Deps = ctx["deps"]
    job_id: str | None = ctx.get("job_id")
    return await each_at_once(_deliver(deps, delivery_id, job_id) for delivery_id in delivery_ids)
