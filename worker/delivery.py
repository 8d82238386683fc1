"""One delivery attempt: claim it in the database, sign the exact bytes, POST, log, reschedule.

The ARQ task is a thin shell; ``_deliver`` is the core. Any number of worker processes may run it
at once: an attempt is claimed by one conditional UPDATE (due, pending) that also moves
``next_attempt_at`` to a lease, so a second worker finds nothing to do, and a worker killed
mid-attempt leaves a lease that expires into the sweep's hands.
"""

import asyncio
import email.utils
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.clock import utcnow
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.models import (
    DeliveryAttempt,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
    table_of,
)
from gateway.webhooks import outbox
from gateway.webhooks.service import disable_endpoint
from keys import Sealer, decode_webhook_secret, sign_headers

__all__ = ["RESPONSE_CAP", "Attempt", "Deps", "deliver", "retry_after_seconds"]

log = logging.getLogger("aitopup.delivery")

RESPONSE_CAP = 4096
RETRY_AFTER_CAP = 3600.0
# How long a claimed attempt may run before the sweep may hand it to another worker.
LEASE_MARGIN = 5.0
# A deferred job may wake a hair before its row says it is due.
DUE_SLACK = timedelta(milliseconds=50)

_D = table_of(WebhookDelivery)
_E = table_of(Event)
_EP = table_of(WebhookEndpoint)
_A = table_of(DeliveryAttempt)


@dataclass(slots=True)
class Deps:
    """What a delivery needs, opened once per worker process."""

    settings: Settings
    db: Database
    sealer: Sealer
    clients: dict[str, httpx.AsyncClient]
    redis: Any  # arq.ArqRedis
    _keys: dict[str, bytes] = field(default_factory=dict)

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


@dataclass(slots=True)
class Attempt:
    """What happened on the wire."""

    status: int | None = None
    headers: dict[str, str] | None = None
    body: str | None = None
    error: str | None = None

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


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    """At most ``cap`` bytes of the body; the rest is never read (the connection is dropped)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= cap:
            break
    return b"".join(chunks)[:cap]


def _describe(exc: Exception) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.ConnectError):
        kind = "connect failed"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        kind = "connection broken"
    else:
        kind = "request failed"
    return f"{kind}: {detail}"[:500]


async def post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], deadline: float
) -> Attempt:
    """One signed POST, never following a redirect, with a deadline on the whole exchange so a
    receiver that trickles bytes cannot hold the attempt past the timeout."""
    result = Attempt()
    try:
        async with (
            asyncio.timeout(deadline),
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            result.status = response.status_code
            result.headers = dict(response.headers)
            raw = await _read_capped(response, RESPONSE_CAP)
            result.body = raw.decode("utf-8", errors="replace")
    except TimeoutError:
        result.error = f"timeout: no complete response within {deadline:g}s"
    except httpx.HTTPError as exc:
        result.error = _describe(exc)
    if result.error is None and result.status is not None and not 200 <= result.status < 300:
        if 300 <= result.status < 400:
            location = (result.headers or {}).get("location", "")
            result.error = f"redirect not followed: HTTP {result.status} to {location}"[:500]
        else:
            result.error = f"HTTP {result.status}"
    return result


async def _claim(conn: AsyncConnection, delivery_id: str, now: datetime, lease: float) -> Any:
    return (
        await conn.execute(
            update(_D)
            .where(
                _D.c.id == delivery_id,
                _D.c.status == "pending",
                _D.c.next_attempt_at <= now + DUE_SLACK,
            )
            .values(
                generation=_D.c.generation + 1,
                next_attempt_at=now + timedelta(seconds=lease),
                updated_at=now,
            )
            .returning(
                _D.c.event_id,
                _D.c.endpoint_id,
                _D.c.env,
                _D.c.attempts,
                _D.c.trigger,
                _D.c.run_start,
                _D.c.generation,
            )
        )
    ).first()


async def _deliver(deps: Deps, delivery_id: str) -> str:
    """Run the attempt that is due, if one is; the outcome, for the job result and the tests."""
    settings = deps.settings
    now = utcnow()
    async with deps.db.begin() as conn:
        claim = await _claim(
            conn, delivery_id, now, settings.webhook_timeout_seconds + LEASE_MARGIN
        )
        if claim is None:
            return "skipped"
        found = (
            await conn.execute(
                select(
                    _E.c.payload,
                    _E.c.type,
                    _EP.c.url,
                    _EP.c.enabled,
                    _EP.c.deleted_at,
                    _EP.c.secret_sealed,
                    _EP.c.previous_secret_sealed,
                    _EP.c.previous_secret_expires_at,
                    _EP.c.failing_since,
                )
                .select_from(_E.join(_EP, _EP.c.id == claim.endpoint_id))
                .where(_E.c.id == claim.event_id)
            )
        ).one()
        if not found.enabled or found.deleted_at is not None:
            # Re-checked here, not when queued: the merchant may have disabled it meanwhile.
            await conn.execute(
                update(_D)
                .where(_D.c.id == delivery_id)
                .values(status="failed", next_attempt_at=None, updated_at=now)
            )
            return "endpoint_disabled"

    keys = [deps.signing_key(claim.endpoint_id, found.secret_sealed)]
    if found.previous_secret_sealed and (found.previous_secret_expires_at or now) > now:
        keys.append(deps.signing_key(claim.endpoint_id, found.previous_secret_sealed))
    body = found.payload.encode()
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "X-AiTopUp-Event": found.type,
        "X-AiTopUp-Delivery": delivery_id,
        # webhook-id is the event id: stable across retries and replays, so receivers dedupe.
        **sign_headers(keys, claim.event_id, int(time.time()), body),
    }
    started = utcnow()
    clock = time.perf_counter()
    attempt = await post(
        deps.clients[claim.env], found.url, body, headers, settings.webhook_timeout_seconds
    )
    duration_ms = int((time.perf_counter() - clock) * 1000)
    finished = utcnow()

    number = claim.attempts + 1
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
            asked = retry_after_seconds((attempt.headers or {}).get("retry-after"), finished)
            if asked is not None:
                delay = max(delay, asked)
        next_at = finished + timedelta(seconds=delay)
    else:
        status = "failed"
    if (
        disable_reason is None
        and not attempt.succeeded
        and found.failing_since is not None
        and (started - found.failing_since).total_seconds()
        >= settings.webhook_disable_after_seconds
    ):
        disable_reason = (
            f"failing since {found.failing_since.isoformat()} "
            f"(over {settings.webhook_disable_after_seconds}s)"
        )
        status, next_at = "failed", None

    generation = claim.generation + 1
    notify: list[str] = []
    async with deps.db.begin() as conn:
        await conn.execute(
            update(_D)
            .where(_D.c.id == delivery_id, _D.c.generation == claim.generation)
            .values(
                status=status,
                attempts=number,
                generation=generation,
                next_attempt_at=next_at,
                last_attempt_at=started,
                updated_at=finished,
            )
        )
        await conn.execute(
            insert(_A).values(
                delivery_id=delivery_id,
                attempt=number,
                trigger=claim.trigger,
                started_at=started,
                duration_ms=duration_ms,
                url=found.url,
                request_headers=headers,
                request_body=found.payload,
                response_status=attempt.status,
                response_headers=attempt.headers,
                response_body=attempt.body,
                error=attempt.error,
            )
        )
        if attempt.succeeded:
            if found.failing_since is not None:
                await conn.execute(
                    update(_EP).where(_EP.c.id == claim.endpoint_id).values(failing_since=None)
                )
        elif found.failing_since is None:
            await conn.execute(
                update(_EP)
                .where(_EP.c.id == claim.endpoint_id, _EP.c.failing_since.is_(None))
                .values(failing_since=started)
            )
        if disable_reason is not None:
            notify = await disable_endpoint(conn, claim.endpoint_id, disable_reason, finished)

    if next_at is not None:
        await outbox.enqueue_jobs(deps.redis, [(delivery_id, generation)], defer_until=next_at)
    if notify:
        await outbox.enqueue(deps.redis, notify)
    outcome = "succeeded" if attempt.succeeded else ("retrying" if next_at else "failed")
    log.info(
        "delivery attempt",
        extra={
            "delivery_id": delivery_id,
            "endpoint_id": claim.endpoint_id,
            "attempt": number,
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
    return await _deliver(deps, delivery_id)
