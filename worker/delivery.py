"""Webhook deliveries as a kind of the runner's (``Deliveries``): one attempt signs the exact
bytes, POSTs them, and records the attempt and the delivery's next state.

The runner leases due deliveries (``store.queue.lease``); ``Deliveries.taken`` reads, in the
lease's transaction, what sending each needs (its event's body, its endpoint), fails at once
a delivery whose endpoint was disabled or deleted meanwhile, and puts off to its slot, untried,
a delivery of a throttled endpoint whose turn has not come (``webhooks.throttle``). A worker
killed mid-attempt leaves a lease that lapses, and the delivery is due again.

The attempt itself is its destination type's (``gateway.webhooks.destinations``): an HTTP
POST, and the bounds on what a receiver answers, or a broker's publish.
"""

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, update

from gateway import outbox
from gateway.ops.metrics import DeliveryOutcome, observe_delivery_attempt
from gateway.store.delivery_queue import QUEUE
from gateway.store.expressions import materialized, one_of, param
from gateway.store.models import Event, WebhookDelivery, WebhookEndpoint, table_of
from gateway.store.queue import Tried, next_try
from gateway.store.raw import Raw, Statement
from gateway.store.types import UTCDateTime
from gateway.values.settings import Settings
from gateway.webhooks import batches, throttle
from gateway.webhooks.destinations.base import Attempt, Message
from gateway.webhooks.destinations.http import (
    RETRY_AFTER_STATUSES,
    retry_after_seconds,
)
from gateway.webhooks.destinations.registry import DESTINATIONS
from gateway.webhooks.headers import masked
from gateway.webhooks.transport import TooLate
from keys import sign_headers

from . import ordered
from .deps import Deps
from .http import USER_AGENT
from .kind import Bounds
from .store import Claim, Record

__all__ = ["DELIVERIES", "Deliveries"]

log = logging.getLogger("aitopup.delivery")

# How long a leased attempt may run past its timeout before another worker may take it: its
# record, and a throttled try's wait for its slot (``throttle.LEAD_US``, a second at most).
LEASE_MARGIN = 5.0

_D = table_of(WebhookDelivery)
_E = table_of(Event)
_EP = table_of(WebhookEndpoint)
_LATE = timedelta(microseconds=throttle.LATE_US)
_NO_TIME = timedelta(0)


def _plan(
    settings: Settings, claim: Claim, attempt: Attempt, started: datetime, finished: datetime
) -> tuple[Tried, datetime | None, str | None]:
    """What this attempt came to, when to try next, and why to disable. A replay's run is one
    attempt; an automatic run follows the retry schedule."""
    delays = settings.long_retry_delays if claim.retry_schedule == "long" else settings.retry_delays
    run = delays[:1] if claim.trigger == "replay" else delays
    number = claim.attempts - claim.run_start + 1  # this attempt's place in its run
    ok = attempt.succeeded  # a property that reads three fields: read once
    next_at: datetime | None = None
    disable_reason: str | None = None
    if attempt.status == 410:
        disable_reason = "endpoint answered 410 Gone"
    elif attempt.final:
        pass  # the broker refuses the message itself: given up, with no retry to wait for
    elif not ok:
        asked = None
        if attempt.status in RETRY_AFTER_STATUSES:
            asked = retry_after_seconds(attempt.retry_after, finished)
        next_at = next_try(run, number, finished, asked)
    if (
        disable_reason is None
        and not ok
        and claim.failing_since is not None
        and (started - claim.failing_since).total_seconds()
        >= settings.webhook_disable_after_seconds
    ):
        disable_reason = (
            f"failing since {claim.failing_since.isoformat()} "
            f"(over {settings.webhook_disable_after_seconds}s)"
        )
        next_at = None
    return Tried.of(ok, next_at), next_at, disable_reason


# An attempt's outcome as the metrics and the log name it.
OUTCOMES: dict[Tried, DeliveryOutcome] = {
    Tried.DONE: "succeeded",
    Tried.AGAIN: "retrying",
    Tried.FAILED: "failed",
}


@dataclass(slots=True)
class _Sent:
    claim: Claim
    headers: dict[str, str]
    attempt: Attempt
    started: datetime
    finished: datetime
    seconds: float


async def _make_attempt(deps: Deps, claim: Claim) -> _Sent:
    """Sign the claimed attempt's exact bytes and send them as its destination type does."""
    delivery_id = claim.delivery_id
    started = now = deps.clock.now()
    keys: list[bytes] = []
    ed25519 = []
    if claim.signing != "ed25519":
        keys.append(deps.signing_key(claim.endpoint_id, claim.secret_sealed))
        if claim.previous_secret_sealed and (claim.previous_secret_expires_at or now) > now:
            keys.append(deps.signing_key(claim.endpoint_id, claim.previous_secret_sealed))
    if claim.signing != "hmac" and claim.signing_key_sealed:
        ed25519.append(deps.ed25519_key(claim.endpoint_id, claim.signing_key_sealed))
        previous = claim.previous_signing_key_sealed
        if previous and (claim.previous_signing_key_expires_at or now) > now:
            ed25519.append(deps.ed25519_key(claim.endpoint_id, previous))
    custom, secrets = deps.custom_headers(claim.endpoint_id, claim.custom_headers)
    # webhook-id is the event id, or a batch's own: stable across retries and replays, so
    # receivers dedupe.
    if claim.batch_size > 1:
        members = claim.members()
        body = ("[" + ",".join(member.payload for member in members) + "]").encode()
        message_id = batches.batch_id(members[0].event_id, members[-1].event_id)
        about = {"X-AiTopUp-Event": "batch", "X-AiTopUp-Batch-Size": str(len(members))}
    else:
        body = claim.payload.encode()
        message_id = claim.event_id
        about = {"X-AiTopUp-Event": claim.type}
    headers = {
        **custom,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        **about,
        "X-AiTopUp-Delivery": delivery_id,
        **sign_headers(keys, message_id, int(time.time()), body, ed25519=ed25519),
    }
    timer = time.perf_counter()
    kind = DESTINATIONS.get(claim.destination_type)
    if kind is None:
        # A type this worker does not know (an older worker beside a newer gateway): retried,
        # so a worker that knows it delivers it.
        attempt = Attempt(error=f"destination type {claim.destination_type!r} not known here")
    else:
        attempt = await kind.deliver(deps.via(claim.env), claim, Message(message_id, body, headers))
    seconds = time.perf_counter() - timer
    # The delivery log keeps what was sent, a secret header's value masked.
    return _Sent(claim, masked(headers, secrets), attempt, started, deps.clock.now(), seconds)


async def _attempt(deps: Deps, claim: Claim, done: Callable[[], None]) -> list[str]:
    """Make the leased attempt and record it; the deliveries of a ``webhook.endpoint.disabled``
    event, if it disabled its endpoint. ``done``: called once the POST is over."""
    slot = _slot_of(claim)
    if slot is not None:
        # Leased before its throttle slot (``throttle.lead_us``): sent when the slot comes,
        # never sooner, however it was called.
        early = slot - deps.clock.now()
        if early > _NO_TIME:
            await deps.clock.sleep(early.total_seconds())
    # Too late for its throttle slot, here or where its first byte would have been written
    # (after waiting for a connection): a fresh slot, untried.
    late = claim.send_by is not None and deps.clock.now() > claim.send_by
    if not late:
        try:
            sent = await _make_attempt(deps, claim)
        except TooLate:
            late = True
    done()
    if late:
        await _missed(deps, claim)
        return [claim.delivery_id]
    settings, attempt = deps.settings, sent.attempt
    started, finished, headers, seconds = sent.started, sent.finished, sent.headers, sent.seconds
    duration_ms = int(seconds * 1000)
    delivery_id = claim.delivery_id

    tried, next_at, disable_reason = _plan(settings, claim, attempt, started, finished)
    notify = await deps.records.add(
        Record(
            claim=claim,
            tried=tried,
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
    if ordered.finishes(claim.ordered, claim.trigger, tried):
        # The record made the endpoint's next delivery due now (``ordered.wake``): its lane
        # looks at once, rather than at the put-off or the idle poll it last read.
        notify = [*notify, delivery_id]
    outcome = OUTCOMES[tried]
    observe_delivery_attempt(outcome, seconds)
    # A line a success would be most of a busy worker's log, and a measurable part of its CPU a
    # delivery (docs/performance.md): by default only what failed is logged.
    if tried is not Tried.DONE or settings.webhook_log_successes:
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
    return notify


# What sending each leased delivery needs: its event's body and its endpoint, each looked up by
# its key (``one_of``, and on PostgreSQL the worker's ``POSTGRES_SETTINGS``). The deliveries are
# found first, alone: joined as one query, the planner of a table without statistics started
# from the endpoints and read each endpoint's deliveries for the batch's ids.
_LEASED = materialized(
    select(_D.c.id, _D.c.event_id, _D.c.endpoint_id).where(one_of(_D.c.id, "ids")), "leased"
)
_TARGETS = Statement.of(
    select(
        _LEASED.c.id,
        _E.c.payload,
        _E.c.type,
        _EP.c.url,
        _EP.c.enabled,
        _EP.c.deleted_at,
        _EP.c.secret_sealed,
        _EP.c.previous_secret_sealed,
        _EP.c.previous_secret_expires_at,
        _EP.c.failing_since,
        _EP.c.signing,
        _EP.c.signing_key_sealed,
        _EP.c.previous_signing_key_sealed,
        _EP.c.previous_signing_key_expires_at,
        _EP.c.custom_headers,
        _EP.c.throttle_per_second,
        _EP.c.retry_schedule,
        _EP.c.ordered,
        _EP.c.batch_size,
        _EP.c.destination_type,
        _EP.c.destination_sealed,
    ).select_from(
        _LEASED.join(_E, _E.c.id == _LEASED.c.event_id).join(_EP, _EP.c.id == _LEASED.c.endpoint_id)
    )
)
# A delivery whose endpoint was disabled or deleted since its event was written: failed, untried.
_GONE = Statement.of(
    update(_D)
    .where(one_of(_D.c.id, "ids"))
    .values(
        status="failed",
        next_attempt_at=None,
        updated_at=param("now", UTCDateTime()),
        **QUEUE.released(),
    )
)


class Deliveries:
    """Webhook deliveries: ``webhook_max_connections`` attempts in flight a worker, each
    merchant's at most its share (``webhook_merchant_connections``)."""

    name = outbox.WEBHOOK
    queue = QUEUE

    def bounds(self, settings: Settings) -> Bounds:
        return Bounds(
            concurrency=settings.webhook_max_connections,
            share=settings.webhook_merchant_connections,
            lease_seconds=settings.webhook_timeout_seconds + LEASE_MARGIN,
        )

    async def taken(self, tx: Raw, rows: list[SimpleNamespace], now: datetime) -> Sequence[Claim]:
        ids = [row.id for row in rows]
        found = {target["id"]: target for target in await tx.fetch(_TARGETS, {"ids": ids})}
        claims: list[Claim] = []
        gone: list[str] = []
        spent: list[str] = []  # throttle slots held, now used or missed
        waiting: dict[str, list[tuple[SimpleNamespace, Claim]]] = {}
        rates: dict[str, int] = {}  # a waiting endpoint's, as read here
        now_us = throttle.micros(now)
        in_order: dict[str, list[SimpleNamespace]] = {}
        batched: dict[str, tuple[Claim, ...]] = {}  # an ordered head's batch, by the head
        for row in rows:
            target = found[row.id]
            if (
                target["ordered"]
                and ordered.in_order(row.trigger)
                and target["enabled"]
                and target["deleted_at"] is None
            ):
                in_order.setdefault(row.endpoint_id, []).append(row)
        if in_order:
            # Only the endpoint's head goes; the rest wait for it, untried (``worker.ordered``).
            heads = {row.id for row in await ordered.put_off(tx, in_order, now)}
            waits = [row for leased in in_order.values() for row in leased if row.id not in heads]
            spent += [row.id for row in waits if row.throttle_slot_us is not None]
            put_off = {row.id for row in waits}
            rows = [row for row in rows if row.id not in put_off]
            for row in rows:
                size = found[row.id]["batch_size"]
                if row.id in heads and size > 1:
                    followers = await ordered.batch(tx, row, size, now)
                    spent += [f.id for f in followers if f.throttle_slot_us is not None]
                    batched[row.id] = await _batch(tx, followers)
        for row in rows:
            target = found[row.id]
            if not target["enabled"] or target["deleted_at"] is not None:
                # Checked here, not when the event was written: it may have been disabled since.
                gone.append(row.id)
                continue
            claim = _claim(tx, row, target)
            if row.id in batched:
                claim = replace(claim, batch=batched[row.id])
            rate, held = target["throttle_per_second"], row.throttle_slot_us
            if rate is None:
                claims.append(claim)
                if held is not None:
                    spent.append(row.id)
            elif held is not None and throttle.takes_now(held, now_us, rate):
                claims.append(_in_slot(claim, held))
                spent.append(row.id)
            else:
                if held is not None:
                    spent.append(row.id)  # a slot missed: released, and a fresh one reserved
                waiting.setdefault(row.endpoint_id, []).append((row, claim))
                rates[row.endpoint_id] = rate
        if gone:
            await tx.fetch(_GONE, {"ids": gone, "now": now})
        # Before the reservations, which give the rows put off their new slots.
        await throttle.release(tx, spent)
        if waiting:
            claims += await _throttled(tx, waiting, rates, now)
        return claims

    async def put_off(self, deps: Deps, item: Claim, due: datetime) -> None:
        if item.batch:
            # The rest of a batch is leased with its head until the head's lease ends: the
            # head's lapses with theirs, and the next lease takes the batch up as it was left.
            return
        await _missed(deps, item, due)

    def merchant(self, item: Claim) -> str:
        return item.merchant_id

    def not_before(self, item: Claim) -> datetime | None:
        return _slot_of(item)

    async def attempt(self, deps: Deps, item: Claim, sent: Callable[[], None]) -> Iterable[str]:
        return await _attempt(deps, item, sent)


def _claim(tx: Raw, row: SimpleNamespace, target: dict[str, Any]) -> Claim:
    return Claim(
        delivery_id=row.id,
        event_id=row.event_id,
        endpoint_id=row.endpoint_id,
        merchant_id=row.merchant_id,
        env=row.env,
        attempts=row.attempts,
        trigger=row.trigger,
        run_start=row.run_start,
        generation=row.generation,
        payload=target["payload"],
        type=target["type"],
        url=target["url"],
        secret_sealed=target["secret_sealed"],
        previous_secret_sealed=target["previous_secret_sealed"],
        previous_secret_expires_at=tx.timestamp(target["previous_secret_expires_at"]),
        failing_since=tx.timestamp(target["failing_since"]),
        signing=target["signing"],
        signing_key_sealed=target["signing_key_sealed"],
        previous_signing_key_sealed=target["previous_signing_key_sealed"],
        previous_signing_key_expires_at=tx.timestamp(target["previous_signing_key_expires_at"]),
        custom_headers=target["custom_headers"],
        retry_schedule=target["retry_schedule"],
        ordered=target["ordered"],
        # A batching endpoint's receiver reads arrays: a replay or a test is an array of one.
        batch_size=target["batch_size"] if target["ordered"] else 1,
        destination_type=target["destination_type"],
        destination_sealed=target["destination_sealed"],
    )


async def _batch(tx: Raw, followers: list[SimpleNamespace]) -> tuple[Claim, ...]:
    """The claims of a head's batch (``ordered.batch``), oldest first: its endpoint the
    head's, each its own event."""
    if not followers:
        return ()
    ids = [row.id for row in followers]
    found = {target["id"]: target for target in await tx.fetch(_TARGETS, {"ids": ids})}
    return tuple(_claim(tx, row, found[row.id]) for row in followers)


def _in_slot(claim: Claim, slot_us: int) -> Claim:
    return replace(claim, send_by=throttle.slot_time(slot_us + throttle.LATE_US))


def _slot_of(claim: Claim) -> datetime | None:
    """The throttle slot ``claim`` is sent in (``_in_slot``), if any."""
    return None if claim.send_by is None else claim.send_by - _LATE


async def _missed(deps: Deps, claim: Claim, due: datetime | None = None) -> None:
    """``claim`` was not sent (too late for its slot, or its merchant's share stayed full):
    due again at ``due`` (at once unless given), holding its slot again (``throttle.missed``)."""
    at = _slot_of(claim)
    slot = None if at is None else throttle.micros(at)
    now = deps.clock.now()
    async with deps.db.transaction() as conn:
        await throttle.missed(conn, claim.delivery_id, claim.generation, slot, now, due or now)


async def _throttled(
    tx: Raw,
    waiting: dict[str, list[tuple[SimpleNamespace, Claim]]],
    rates: dict[str, int],
    now: datetime,
) -> list[Claim]:
    """Of a throttled endpoint's leased deliveries, those whose reserved slot is now; the rest
    put off to their slots, untried (``webhooks.throttle``), in the order they were written,
    those held already included (``throttle.in_line``). Reserving and putting off commit
    together, so no slot is given to a delivery that is not told of it."""
    now_us = throttle.micros(now)
    ready: list[Claim] = []
    held: list[tuple[SimpleNamespace, int, int]] = []
    async with tx.atomic():
        for endpoint_id, pairs in waiting.items():
            pairs.sort(key=lambda pair: pair[0].id)  # ids sort by event time: oldest first
            reserved = await throttle.reserve(tx, endpoint_id, len(pairs), now, rates[endpoint_id])
            if reserved is None:  # the throttle was lifted since the read
                ready += [claim for _, claim in pairs]
                continue
            rate, slots = reserved
            claims = {row.id: claim for row, claim in pairs}
            behind = await throttle.held_after(tx, endpoint_id, pairs[0][0].id, now)
            for row, slot in throttle.in_line([row for row, _ in pairs], slots, behind):
                claim = claims.get(row.id)
                if claim is None:
                    if slot != row.throttle_slot_us:
                        held.append((row, slot, rate))  # moved up one, behind an older row
                elif throttle.takes_now(slot, now_us, rate):
                    ready.append(_in_slot(claim, slot))
                else:
                    held.append((row, slot, rate))
        await throttle.hold(tx, held, now)
    return ready


DELIVERIES = Deliveries()
