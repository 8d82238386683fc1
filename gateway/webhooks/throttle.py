"""A webhook endpoint's throttle: at most ``throttle_per_second`` deliveries a second, so a slow or
rate-limited receiver is fed at its rate, and nobody else waits for it.

The endpoint row keeps its next free slot (``throttle_next_us``). A lease that takes an
endpoint's deliveries reserves one slot each, in one conditional UPDATE (``reserve``): of two
workers leasing at once, each gets slots the other does not. A delivery whose slot is within
its lead (below) is handed on to be sent in it; one whose slot is later goes back to pending,
due its lead before its slot and holding it (``throttle_slot_us``), untried; the lease that
takes it then hands it on without reserving again.
So the deliveries held back take neither a try, nor room in the worker, nor a merchant's share
while they wait, and an endpoint's backlog is spread over its slots in one pass.

A delivery is sent in its slot or not at all: one that could not go out within ``LATE_US`` of its
slot (its worker was busy, its merchant's share full) goes back for a fresh slot, untried
(``missed``), rather than go out beside the next slot's and bunch them. A delivery held to its slot
is due a lead before it (``lead_us``: a second, or 16 slots where those are shorter, above 16 a
second), a fresh slot is no sooner than that after the lease, and a lease that takes it then hands
it on with its slot to wait for, taking no room in the worker meanwhile: what a worker does between
its lease and the request's first byte (statements, a commit, a share, a connection), slower on a
busy machine, is done before the slot rather than in the lateness allowed after it, so a busy worker
still sends in its slots. The lease takes the deliveries held to their slots before any other due
row (``Queue.first``), so a slot waits for no burst of other work; and a delivery given a fresh slot
takes the first slot of those held behind it, each of them moving up one (``in_line``), so an
endpoint's deliveries go out in the order they were written. Lateness is judged where the request's
first byte would be written (``transport.SEND_BY``), after the waits for a share and a connection,
since a receiver counts what arrives: a try that begins in time on a connection that opens late
would otherwise land next to the following slot's. The slots are spaced for that lateness:
``rate`` intervals are more than a second plus ``LATE_US``, so of any ``rate + 1`` sends the last
goes out more than a second after the first, and no second, however it is cut, sees more than
the rate. What "5 a second" means to a receiver that counts the requests of the last second; the
price is that an endpoint is fed at up to 5% under its rate, never over it.

Slots are counted in whole microseconds since the epoch (``interval_us``), which makes the
reservation the same integer arithmetic on both stores. A change of the rate applies to the
slots reserved after it.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, Integer, String, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.delivery_queue import QUEUE
from ..store.expressions import one_of, param
from ..store.models import WebhookDelivery, table_of
from ..store.raw import Raw, Statement
from ..store.types import UTCDateTime
from ..values.code_names import Code
from ..values.outcome import ApiError

__all__ = [
    "LATE_US",
    "LEAD_SLOTS",
    "LEAD_US",
    "MAX_PER_SECOND",
    "MIN_PER_SECOND",
    "check_throttle",
    "held_after",
    "hold",
    "in_line",
    "interval_us",
    "lead_us",
    "micros",
    "missed",
    "release",
    "reserve",
    "slot_time",
    "takes_now",
]

MIN_PER_SECOND = 1
# A worker sends a few thousand deliveries a second at best: above this a throttle means nothing.
MAX_PER_SECOND = 1000
# How late after its slot a delivery may still be sent: a worker's ordinary jitter, below which
# deliveries would go back for new slots again and again. Each interval is a ``rate``-th of it
# longer (``interval_us``), so the lateness never adds a send to a second.
LATE_US = 50_000
# How long before its slot a held delivery is due, at most: its lease and the try's way to the
# first byte go on meanwhile (on a busy machine, with a busy store, they have taken more than a
# second), and the try waits out what is left, taking no room in the worker nor a place in its
# merchant's share (``Kind.not_before``). No more than ``LEAD_SLOTS`` of an endpoint's slots are
# led up to at once, so a fast endpoint's lead is shorter (``lead_us``).
LEAD_US = 1_000_000
LEAD_SLOTS = 16
_US = 1_000_000
# A second and the lateness allowed: what ``rate`` intervals must exceed.
_SPAN_US = _US + LATE_US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_D = table_of(WebhookDelivery)


def check_throttle(value: Any) -> int | None:
    """``throttle_per_second`` as a request gave it: a whole number within the bounds, or
    ``None`` for unthrottled."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        ok = False
    else:
        ok = MIN_PER_SECOND <= value <= MAX_PER_SECOND
    if not ok:
        raise ApiError(
            Code.WEBHOOK_THROTTLE_INVALID, data={"min": MIN_PER_SECOND, "max": MAX_PER_SECOND}
        )
    result: int = value
    return result


def interval_us(rate: int) -> int:
    """The time between two slots: a little over a ``rate``-th of a second and ``LATE_US``, so
    that a send ``LATE_US`` after its slot and one ``rate`` slots later, on time, are more than a
    second apart."""
    return _SPAN_US // rate + 1


def micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def lead_us(rate: int) -> int:
    """How long before its slot a delivery of an endpoint throttled to ``rate`` is taken:
    ``LEAD_US``, or ``LEAD_SLOTS`` intervals where those are shorter."""
    return min(LEAD_US, LEAD_SLOTS * interval_us(rate))


def takes_now(slot_us: int, now_us: int, rate: int) -> bool:
    """Whether a lease at ``now_us`` hands on a delivery held to ``slot_us`` by an endpoint
    throttled to ``rate``: from its lead before it (the try waits for it) until ``LATE_US``
    after it."""
    return slot_us - lead_us(rate) <= now_us < slot_us + LATE_US


def slot_time(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


# ``count`` slots from the later of the endpoint's next free slot and ``:now`` (a lead after
# the lease's time: a fresh slot is led up to as a held one is), ``interval_us`` apart;
# the new next free slot and the rate it was counted at. One statement, so concurrent leases
# serialise on the row.
_RESERVE = Statement(
    """UPDATE webhook_endpoints SET throttle_next_us =
        CASE WHEN throttle_next_us IS NULL OR throttle_next_us < CAST(:now AS BIGINT)
        THEN CAST(:now AS BIGINT) ELSE throttle_next_us END
        + CAST(:count AS BIGINT) * (CAST(:span AS BIGINT) / throttle_per_second + 1)
    WHERE id = :id AND throttle_per_second IS NOT NULL
    RETURNING throttle_next_us, throttle_per_second""",
    ("throttle_next_us", "throttle_per_second"),
)

# A delivery put off to its slot: due its lead before it, holding it; only while this lease
# still holds it.
_HOLD = Statement.of(
    update(_D)
    .where(
        _D.c.id == param("id", String()),
        _D.c.generation == param("generation", Integer()),
        _D.c.status == "pending",
    )
    .values(
        next_attempt_at=param("at", UTCDateTime()),
        throttle_slot_us=param("slot", BigInteger()),
        updated_at=param("now", UTCDateTime()),
        **QUEUE.released(),
    )
)

# An endpoint's deliveries held to slots not yet missed, written after ``since``, oldest first;
# each locked, so no other lease takes one while its slot moves (one that is being taken is left
# out, and keeps its slot). One whose slot has come but that no lease has taken yet moves too:
# it is younger, and goes after; one whose slot has passed gets a fresh one when it is leased.
_HELD_AFTER = Statement.of(
    select(_D.c.id, _D.c.generation, _D.c.throttle_slot_us)
    .where(
        _D.c.endpoint_id == param("endpoint_id", String()),
        _D.c.status == "pending",
        _D.c.throttle_slot_us >= param("from_us", BigInteger()),
        _D.c.id > param("since", String()),
    )
    .order_by(_D.c.id)
    .with_for_update(skip_locked=True)
)

# Deliveries sent in the slots they held: the slot is spent, a later try reserves its own.
_RELEASE = Statement.of(update(_D).where(one_of(_D.c.id, "ids")).values(throttle_slot_us=None))


async def reserve(
    tx: Raw, endpoint_id: str, count: int, now: datetime, rate: int
) -> tuple[int, list[int]] | None:
    """``count`` consecutive slots of the endpoint, in microseconds, earliest first, and the rate
    they were counted at; ``None`` when it is not throttled (any more). None is sooner than the
    lead of ``rate`` (the rate the lease read) after ``now``, so a delivery sent in its fresh
    slot has what a held one has."""
    earliest = micros(now) + lead_us(rate)
    row = await tx.fetchrow(
        _RESERVE, {"id": endpoint_id, "count": count, "now": earliest, "span": _SPAN_US}
    )
    if row is None:
        return None
    rate = int(row["throttle_per_second"])
    step = interval_us(rate)
    first = int(row["throttle_next_us"]) - count * step
    return rate, [first + i * step for i in range(count)]


async def held_after(tx: Raw, endpoint_id: str, since: str, now: datetime) -> list[SimpleNamespace]:
    """The endpoint's deliveries held to slots that may still be sent in (within ``LATE_US``)
    and written after ``since``, oldest first (each with its ``id``, ``generation`` and
    ``throttle_slot_us``)."""
    found = await tx.fetch(
        _HELD_AFTER,
        {"endpoint_id": endpoint_id, "since": since, "from_us": micros(now) - LATE_US},
    )
    return [SimpleNamespace(**row) for row in found]


def in_line(
    waiting: Sequence[SimpleNamespace], slots: Sequence[int], held: Sequence[SimpleNamespace]
) -> list[tuple[SimpleNamespace, int]]:
    """The slots of an endpoint's rows in the order they were written: ``waiting``, the rows
    a lease found without a slot, given the fresh ``slots``; and ``held``, rows holding later
    slots already. A row that missed its slot may be older than rows held behind it: it takes
    the first of their slots and each moves up one, so none overtakes another. Each row and
    its slot, oldest first."""
    rows = sorted([*waiting, *held], key=lambda row: row.id)
    return list(zip(rows, sorted([*slots, *(row.throttle_slot_us for row in held)]), strict=True))


async def hold(tx: Raw, held: Sequence[tuple[Any, int, int]], now: datetime) -> None:
    """Each leased row of ``held`` (with its ``id`` and ``generation``), with its slot and the
    rate the slot was counted at: put off to the slot, due its lead before it."""
    rows = [
        {"id": row.id, "generation": row.generation, "at": slot_time(slot - lead_us(rate)),
         "slot": slot, "now": now}
        for row, slot, rate in held
    ]  # fmt: skip
    await tx.executemany(_HOLD, rows)


async def release(tx: Raw, ids: Sequence[str]) -> None:
    if ids:
        await tx.fetch(_RELEASE, {"ids": list(ids)})


async def missed(
    conn: AsyncConnection,
    delivery_id: str,
    generation: int,
    slot_us: int | None,
    now: datetime,
    due: datetime,
) -> None:
    """A leased delivery that did not go out in the slot it was sent with (``slot_us``; ``None``
    for an unthrottled one): it came too late for it, or its merchant's share stayed full. Due
    again at ``due``, untried, and holding that slot once more (the lease spent it), so the
    lease takes it before fresh rows and gives it a fresh slot ahead of the rows held behind
    it, rather than behind every row that fell due while it waited; only while its lease
    holds."""
    values: dict[str, Any] = {"next_attempt_at": due, "updated_at": now, **QUEUE.released()}
    if slot_us is not None:
        values["throttle_slot_us"] = slot_us
    await conn.execute(
        update(_D)
        .where(_D.c.id == delivery_id, _D.c.generation == generation, _D.c.status == "pending")
        .values(values)
    )
