"""Ordered endpoints (``webhook_endpoints.ordered``): an endpoint whose deliveries go one at a
time, in the order their events were written.

The one queue's lease serves them; nothing else runs. The head of an ordered endpoint is its
oldest pending delivery of an automatic run (by ``created_at``, then id: ids sort by event
time); a replay or a test is outside the order (``in_order``). When the lease
takes a delivery of an ordered endpoint that is not its head, ``Deliveries.taken`` puts it off,
untried, in the lease's own transaction; when a record finishes a head (succeeded, or given up),
the same transaction makes the next one due at once (``wake``).

Why this is race-safe on both stores: a row is sent only when the read in its lease's trip
found nothing older pending, and every older one stays pending until the record that finishes
it commits. On PostgreSQL the lease's statements each commit alone (``Database.run``'s
``each_statement``), so a head's record may wake a row between the read that found the row no
head and its put-off: the put-off writes only while the row is still due when its lease ends
(``leased_until``), so it never undoes that wake, and the woken row is due now for any lease.
The wake itself is read in the record's transaction, before it commits: a lease between the two
finds the head still pending and puts the next one off. So the one after a head in flight is
put off for ``RECHECK`` at most, and a wake missed so costs that much, not the head's lease.
A put-off is a time, never NULL: a wake-up lost (a record that failed after its write) only
delays the next one to the later of its head's own due time and ``RECHECK``, never strands it.

Batches (``webhook_endpoints.batch_size`` above 1): the lease that takes a head also takes, in
its own trip, the pending deliveries after it, up to the batch's size (``batch``), and stamps
each with the head (``batch_head``); the head and they go in one request and are recorded
together, in one write. A batch is formed once: when the head is leased again (a retry, or a
lease that lapsed) the batch is the deliveries stamped with it, so a retry sends the same
events under the same ``webhook-id``. Taking a follower bumps its stamp, so a lease of another
worker that holds it (to put it off, as it is no head) writes nothing; and every follower is
behind the head, so nothing else sends it meanwhile.
"""

import functools
from datetime import datetime, timedelta
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Update,
    and_,
    exists,
    literal_column,
    select,
    union_all,
    update,
)

from gateway.store.delivery_queue import QUEUE
from gateway.store.expressions import materialized, param
from gateway.store.models import WebhookDelivery, table_of
from gateway.store.queue import Tried, leased_rows
from gateway.store.raw import Raw, Statement
from gateway.store.types import UTCDateTime

__all__ = ["IN_FLIGHT", "LONGEST", "RECHECK", "batch", "finishes", "in_order", "put_off", "wake"]

# The least and the most a delivery waits before it looks again for its head: a head leased or
# retrying is waited for until it is due again; one that will not be due for hours is looked at
# again within ``LONGEST``, so a lost wake-up costs that much at worst.
RECHECK = timedelta(seconds=1)
LONGEST = timedelta(minutes=10)
# A head due no later than this is in flight, or about to be (a lease is the webhook timeout
# plus a margin, well within it): its record, and the wake it gives, may come any moment.
IN_FLIGHT = timedelta(minutes=2)

_D = table_of(WebhookDelivery)


def _waiting(d: Any) -> ColumnElement[bool]:
    """Of ``d``'s rows, those the partial index of heads holds (``models.ORDERED_HEAD``), its
    values written in the statement: bound, they would not prove its predicate, and a prepared
    statement's generic plan could not use it."""
    return and_(d.c.status == literal_column("'pending'"), d.c.trigger == literal_column("'auto'"))


def _head_of(endpoint: Any) -> Any:
    # Aliased: a subquery of the table an UPDATE writes must not be correlated with its row.
    d = _D.alias("older")
    return (
        select(d.c.id)
        .where(d.c.endpoint_id == endpoint, _waiting(d))
        .order_by(d.c.created_at, d.c.id)
        .limit(1)
        .scalar_subquery()
    )


# When a delivery may next be sent: when it is due or, while a lease holds it past that, when
# the lease ends.
_FREE_AT = QUEUE.free_at()

# The most ordered endpoints whose heads one statement reads (``_heads``): a lease holding more
# reads them in as many statements of this many.
HEADS_AT_ONCE = 32


@functools.cache
def _heads(count: int) -> Statement:
    """For each of ``count`` ordered endpoints (``endpoint_0``, …), its head, its oldest pending
    delivery, and the one after it, each with when it is free (due, or its lease ends): one
    probe an endpoint, each read on the partial index of heads, in one statement (each probe's
    rows with their ``created_at``, to be put in order). A lease's endpoints in one trip, not
    one trip each; ``count`` is a power of two (``_heads_of``), so a few statements serve every
    lease."""
    probes = [
        select(
            literal_column(str(n)).label("n"),
            _D.c.id,
            _FREE_AT.label("free_at"),
            _D.c.created_at,
        )
        .where(_D.c.endpoint_id == param(f"endpoint_{n}", String()), _waiting(_D))
        .order_by(_D.c.created_at, _D.c.id)
        .limit(2)
        .subquery(f"probe_{n}")
        for n in range(count)
    ]
    # No order over the whole: each probe's rows are put in order where they are read, and a
    # sort here would be a step of every lease's plan.
    heads = union_all(*(select(probe) for probe in probes)).subquery("heads")
    return Statement.of(select(heads))


async def _heads_of(tx: Raw, endpoint_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each endpoint's head and the one after it (``_heads``), in order: ``HEADS_AT_ONCE``
    endpoints a statement, a group padded to a power of two with its last endpoint again."""
    found: dict[str, list[dict[str, Any]]] = {endpoint_id: [] for endpoint_id in endpoint_ids}
    for start in range(0, len(endpoint_ids), HEADS_AT_ONCE):
        group = endpoint_ids[start : start + HEADS_AT_ONCE]
        size = 1 << (len(group) - 1).bit_length()
        padded = group + group[-1:] * (size - len(group))
        params = {f"endpoint_{n}": endpoint_id for n, endpoint_id in enumerate(padded)}
        for row in await tx.fetch(_heads(size), params):
            if row["n"] < len(group):  # a padding probe's rows are its endpoint's again
                found[group[row["n"]]].append(row)
    for rows in found.values():
        rows.sort(key=itemgetter("created_at", "id"))
    return found


# A leased delivery that is not its endpoint's head: due again at ``at``, untried; only while
# this lease holds it (its stamp says it is pending: ``QUEUE.stamp_says_due``) and no record has
# woken it since (a wake makes it due now). With its status asked too, the planner read the due
# index by status and due time, which every row of the lease shares: the whole lease, for each.
_PUT_OFF = Statement.of(
    update(_D)
    .where(
        _D.c.id == param("id", String()),
        _D.c.generation == param("generation", Integer()),
        _D.c.leased_until == param("lease_end", UTCDateTime()),
    )
    .values(
        next_attempt_at=param("at", UTCDateTime()),
        updated_at=param("now", UTCDateTime()),
        **QUEUE.released(),
    )
)

_FINISHED = _D.alias("finished")

# After the record that finished ``head`` (left at ``generation``): the endpoint's next
# delivery due now, if it was put off, or is being put off by a lease (which then finds its
# lease ended, and writes nothing). A holder whose lease lapsed wrote nothing, and wakes nothing
# either.
_WAKE = Statement.of(
    update(_D)
    .where(
        _D.c.id == _head_of(param("endpoint_id", String())),
        param("now", UTCDateTime()) < _FREE_AT,
        exists().where(
            _FINISHED.c.id == param("head", String()),
            _FINISHED.c.generation == param("generation", Integer()),
            _FINISHED.c.status != "pending",
        ),
    )
    .values(
        next_attempt_at=param("now", UTCDateTime()),
        updated_at=param("now", UTCDateTime()),
        **QUEUE.released(),
    )
)


async def put_off(
    tx: Raw, rows: dict[str, list[SimpleNamespace]], now: datetime
) -> list[SimpleNamespace]:
    """Of the leased rows of ordered endpoints (by endpoint), those that are their endpoint's
    head, to be sent; the rest put off, untried, until their head is due again."""
    ready: list[SimpleNamespace] = []
    held: list[dict[str, Any]] = []
    heads = await _heads_of(tx, list(rows))
    for endpoint_id, leased in rows.items():
        first = heads[endpoint_id]
        head_id = first[0]["id"] if first else None
        after_head = first[1]["id"] if len(first) > 1 else None
        due = tx.timestamp(first[0]["free_at"]) if first else None
        at = min(max(due or now, now + RECHECK), now + LONGEST)
        for row in leased:
            if row.id == head_id:
                ready.append(row)
            else:
                # The one after the head looks again within ``RECHECK`` while its head is in
                # flight: the wake its head's record gives it is read before that record
                # commits, and a lease between the two finds the head still pending.
                in_flight = due is not None and due <= now + IN_FLIGHT
                soon = row.id == after_head and in_flight
                held.append(
                    {
                        "id": row.id,
                        "generation": row.generation,
                        "lease_end": row.leased_until,
                        "at": min(at, now + RECHECK) if soon else at,
                        "now": now,
                    }
                )
    if held:
        await tx.executemany(_PUT_OFF, held)
    return ready


def in_order(trigger: str) -> bool:
    """Whether a delivery of an ordered endpoint waits its turn: a message's own run does; a
    replay or a test, sent because someone asked for it now, goes when it is leased, and holds
    nothing back."""
    return trigger == "auto"


def finishes(ordered: bool, trigger: str, tried: Tried) -> bool:
    """Whether a record of an ordered endpoint's head lets the next one go."""
    return ordered and in_order(trigger) and tried is not Tried.AGAIN


async def wake(tx: Raw, endpoint_id: str, head: str, generation: int, now: datetime) -> None:
    """The next delivery of ``endpoint_id`` due now, ``head`` being finished by the record that
    left it at ``generation``: in that record's transaction."""
    await tx.fetch(
        _WAKE, {"endpoint_id": endpoint_id, "head": head, "generation": generation, "now": now}
    )


# What a batch's member hands back: what a leased delivery does (``QUEUE.returns``), and when it
# was written, the batch's order.
_MEMBER = (*QUEUE.returned, _D.c.created_at)
_MEMBER_TIMES = (*QUEUE.returned_times, "created_at")


def _followers(formed: bool) -> Update:
    """Leases the pending deliveries after ``head`` of its endpoint, at most ``most``: the next
    ones in order when the batch is new (``formed`` false), else those stamped with it."""
    d = _D.alias("member")
    members = select(d.c.id).where(
        d.c.endpoint_id == param("endpoint_id", String()),
        _waiting(d),
        d.c.id != param("head", String()),
    )
    if formed:
        members = members.where(d.c.batch_head == param("head", String()))
    chosen = materialized(
        members.order_by(d.c.created_at, d.c.id).limit(param("most", Integer())), "members"
    )
    return (
        update(_D)
        .where(_D.c.id.in_(select(chosen.c.id)), _D.c.status == "pending")
        .values(
            generation=_D.c.generation + 1,
            batch_head=param("head", String()),
            leased_until=param("until", UTCDateTime()),
            updated_at=param("now", UTCDateTime()),
        )
        .returning(*_MEMBER)
    )


_NEW_BATCH = Statement.of(_followers(formed=False))
_SAME_BATCH = Statement.of(_followers(formed=True))

# The head of a batch formed now, stamped as its own: only while this lease holds it.
_FORMED = Statement.of(
    update(_D)
    .where(
        _D.c.id == param("id", String()),
        _D.c.generation == param("generation", Integer()),
        _D.c.status == "pending",
    )
    .values(batch_head=param("id", String()))
)


async def batch(tx: Raw, head: SimpleNamespace, size: int, now: datetime) -> list[SimpleNamespace]:
    """The deliveries that go with the leased ``head`` of an endpoint taking ``size`` events a
    request, oldest first, leased until the head's lease ends (in the lease's trip)."""
    formed = head.batch_head == head.id
    found = await tx.fetch(
        _SAME_BATCH if formed else _NEW_BATCH,
        {
            "endpoint_id": head.endpoint_id,
            "head": head.id,
            "most": size - 1,
            "until": head.leased_until,
            "now": now,
        },
    )
    if not formed:
        await tx.fetch(_FORMED, {"id": head.id, "generation": head.generation})
    rows = leased_rows(tx, found, _MEMBER_TIMES)
    rows.sort(key=lambda row: (row.created_at, row.id))
    return rows
