"""The outbox: events and their deliveries, written in the caller's transaction.

The rows are the queue (``store.queue``): the worker leases what is due from the tables
themselves. After commit the gateway only wakes the workers (``wake``), best effort.
"""

import asyncio
import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    and_,
    cast,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
)

from .redis_client import ANSWER_WITHIN, Redis
from .store.compose import Plan, Refs, Step
from .store.expressions import const, from_rows, param
from .store.filters import dropped, has_filter, passes
from .store.models import Event, WebhookDelivery, WebhookEndpoint, WebhookFiltered, table_of
from .store.raw import Conn, Construct, raw
from .store.types import UTCDateTime
from .values.clock import new_id, rfc3339, utcnow

__all__ = [
    "AUTO_TOP_UP",
    "BALANCE_MARK",
    "FULFILMENT",
    "MAIL",
    "MAIL_PREFIX",
    "PAYMENT",
    "REFUND",
    "REPLAY",
    "TELEGRAM",
    "TELEGRAM_PREFIX",
    "WAKE_CHANNEL",
    "WEBHOOK",
    "EventParams",
    "delivery_prefix",
    "emit",
    "event_body",
    "event_params",
    "event_steps",
    "kinds_of",
    "new_event_id",
    "wake",
    "wake_for",
]

log = logging.getLogger(__name__)

# The kinds of background work, each a lane of the worker's runner (``worker.kinds``).
WEBHOOK = "webhook"
MAIL = "mail"
FULFILMENT = "fulfilment"
REPLAY = "replay"
REFUND = "refund"
AUTO_TOP_UP = "auto_top_up"
TELEGRAM = "telegram"
PAYMENT = "payment"  # an agent's payment to a seller (``sellers.holds``): its id is its work's
MAIL_PREFIX = "mail_"
TELEGRAM_PREFIX = "tgm_"
_KIND_BY_PREFIX = {
    "dlv_": WEBHOOK,
    MAIL_PREFIX: MAIL,
    "wrj_": REPLAY,
    TELEGRAM_PREFIX: TELEGRAM,
    "atu_": AUTO_TOP_UP,
    "pay_": PAYMENT,
}
# A wake names the kinds whose rows were just written (``wake_message``): an idle worker waits
# on it rather than reading its tables often.
WAKE_CHANNEL = "aitopup:wake"


def new_event_id() -> str:
    return new_id("evt")


def delivery_prefix(event_id: str) -> str:
    """A delivery's id is this prefix plus its endpoint's id: one per (event, endpoint)."""
    return f"dlv_{event_id[4:]}"


# One encoder for every body: ``json.dumps`` with any option builds a new one each call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def event_body(event_id: str, type_: str, created: datetime, env: str, data: Any) -> str:
    return _COMPACT.encode(
        {"id": event_id, "type": type_, "created": rfc3339(created), "env": env, "data": data}
    )


Balance = Callable[[Refs], ColumnElement[Any]]
# Marks in an event's body and the values, known only inside the write, that replace them.
Fills = Callable[[Refs], Mapping[str, ColumnElement[Any]]]


_E = table_of(Event)
_EP = table_of(WebhookEndpoint)
_D = table_of(WebhookDelivery)
_F = table_of(WebhookFiltered)

# Stands in an event's body for a balance known only inside the write (``balance_after``).
BALANCE_MARK = "$balance_after"

Gate = Callable[[Refs], ColumnElement[bool]]


class EventParams(TypedDict):
    """What the event steps called ``event`` bind (``event_steps("event", …)``)."""

    event_id: str
    event_type: str
    event_payload: str
    event_prefix: str
    event_trigger: str


def event_params(
    type_: str,
    created: datetime,
    env: str,
    data: Any,
    *,
    trigger: str = "auto",
    event_id: str | None = None,
) -> EventParams:
    """The parameters of the event steps called ``event`` (of event ``event_id``, else a new
    one)."""
    event_id = event_id or new_event_id()
    return {
        "event_id": event_id,
        "event_type": type_,
        "event_payload": event_body(event_id, type_, created, env, data),
        "event_prefix": delivery_prefix(event_id),
        "event_trigger": trigger,
    }


def _event(
    refs: Refs,
    name: str,
    gate: Gate,
    balance_after: Balance | None,
    fills: Fills | None,
    merchant: str,
    *,
    filtered: bool,
    excepted: bool,
) -> Construct:
    """One event row of the merchant ``:<merchant>`` in ``:env``, once ``gate`` holds."""
    row = {
        "id": param(f"{name}_id", String),
        "env": param("env", String),
        "merchant_id": param(merchant, String),
        "type": param(f"{name}_type", String),
        "payload": _payload(refs, name, balance_after, fills),
        "created_at": param("now", UTCDateTime()),
    }
    written = from_rows(insert(_E), [row], where=gate(refs))
    if not filtered:
        return written
    # Whether an endpoint it is for has a filter: the flag without which the drops' step is not
    # even run in order (``Step.when``), so an event of a merchant without filters costs SQLite
    # no statement more.
    filters = select(
        exists().where(_addressed(refs, name, None, excepted, merchant, gated=False), has_filter())
    ).scalar_subquery()
    return written.returning(filters.label("filters"))


def _payload(
    refs: Refs, name: str, balance_after: Balance | None, fills: Fills | None
) -> ColumnElement[Any]:
    """Event ``name``'s body as written: its text with the marks replaced by their values."""
    payload: ColumnElement[Any] = param(f"{name}_payload", Text)
    if balance_after is not None:
        mark = const(json.dumps(BALANCE_MARK))
        payload = func.replace(payload, mark, cast(balance_after(refs), Text))
    for mark_name, value in (fills(refs) if fills is not None else {}).items():
        payload = func.replace(payload, const(json.dumps(mark_name)), cast(value, Text))
    return payload


def _subscribed(type_: ColumnElement[Any]) -> ColumnElement[bool]:
    """``""`` means every event; otherwise ``",a,b,"`` holds the type between commas."""
    pattern: ColumnElement[Any] = literal_column("'%,'") + type_ + literal_column("',%'")
    return or_(_EP.c.event_types == literal_column("''"), _EP.c.event_types.like(pattern))


def _addressed(
    refs: Refs, name: str, named: int | None, excepted: bool, merchant: str, *, gated: bool = True
) -> ColumnElement[bool]:
    """The endpoints event ``name`` is for, its filters aside: each enabled endpoint of its
    merchant and env that subscribes to its type, or, with ``named``, each endpoint
    ``:<name>_ep<i>``; ``excepted``: never the endpoint ``:<name>_except``."""
    if named is None:
        which = _subscribed(param(f"{name}_type", String))
    else:
        which = _EP.c.id.in_([param(f"{name}_ep{i}", String) for i in range(named)])
    where = and_(
        _EP.c.merchant_id == param(merchant, String),
        _EP.c.env == param("env", String),
        _EP.c.enabled,
        _EP.c.deleted_at.is_(None),
        which,
        refs.after(name) if gated else true(),
    )
    if excepted:
        where = and_(where, _EP.c.id != param(f"{name}_except", String))
    return where


def _fan_out(
    refs: Refs,
    name: str,
    named: int | None,
    excepted: bool,
    due: str,
    merchant: str,
    body: ColumnElement[Any],
) -> Construct:
    """A pending delivery of event ``name`` per endpoint it is for (``_addressed``) whose
    filter passes its ``body``, unless ``named`` (a test event goes to the endpoint it tests,
    whatever its filter); an operational event goes to every endpoint but the one it is
    about. A delivery's id is the event's prefix plus the endpoint's id: one per (event,
    endpoint). The endpoint's own env and merchant are copied. ``due``: the parameter the
    deliveries are written and due at."""
    now = param(due, UTCDateTime())
    row = {
        "id": param(f"{name}_prefix", String) + _EP.c.id,
        "event_id": param(f"{name}_id", String),
        "endpoint_id": _EP.c.id,
        "env": _EP.c.env,
        "merchant_id": _EP.c.merchant_id,
        "event_type": param(f"{name}_type", String),
        "status": const("pending"),
        "attempts": literal_column("0"),
        "trigger": param(f"{name}_trigger", String),
        "run_start": literal_column("0"),
        "generation": literal_column("0"),
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    where = _addressed(refs, name, named, excepted, merchant)
    if named is None:
        where = and_(where, passes(body))
    return from_rows(insert(_D), [row], where=where).returning(_D.c.id)


def _dropped(
    refs: Refs, name: str, excepted: bool, due: str, merchant: str, body: ColumnElement[Any]
) -> Construct:
    """A row per endpoint event ``name`` is for whose filter drops its ``body``: what the
    endpoint's stats count as filtered. Dated as its deliveries would have been."""
    row = {
        "endpoint_id": _EP.c.id,
        "created_at": param(due, UTCDateTime()),
        "event_id": param(f"{name}_id", String),
    }
    where = and_(_addressed(refs, name, None, excepted, merchant), dropped(body))
    return from_rows(insert(_F), [row], where=where)


def event_steps(
    name: str,
    *,
    after: Gate = lambda refs: true(),
    balance_after: Balance | None = None,
    fills: Fills | None = None,
    named: int | None = None,
    excepted: bool = False,
    due: str = "now",
    merchant: str = "merchant_id",
    when: tuple[str, str] | None = None,
) -> list[Step]:
    """An event (step ``name``) once ``after`` holds, its deliveries (``<name>_deliveries``),
    and a row per endpoint whose filter dropped it (``<name>_filtered``).
    ``balance_after``: the value that replaces ``BALANCE_MARK`` in the body; ``fills``: other
    marks (JSON strings of the body, quotes included) and the values that replace them.
    ``due``: the parameter its deliveries are written and due at (``now`` unless named);
    ``merchant``: the parameter naming whose event it is (a write that tells two merchants
    binds each its own); ``when``: the flag of an earlier step without which the event is not
    even run in order (``Step.when``)."""

    def body(refs: Refs) -> ColumnElement[Any]:
        return _payload(refs, name, balance_after, fills)

    made = [
        Step(
            name,
            lambda refs: _event(
                refs,
                name,
                after,
                balance_after,
                fills,
                merchant,
                filtered=named is None,
                excepted=excepted,
            ),
            when=when,
            counted=named is not None,  # else it returns whether any endpoint filters
        ),
        Step(
            f"{name}_deliveries",
            lambda refs: _fan_out(refs, name, named, excepted, due, merchant, body(refs)),
            many=True,
        ),
    ]
    if named is None:  # an event sent to named endpoints passes no filter
        made.append(
            Step(
                f"{name}_filtered",
                lambda refs: _dropped(refs, name, excepted, due, merchant, body(refs)),
                counted=True,
                when=(name, "filters"),
            )
        )
    return made


# ``emit``'s deliveries are due at ``:due``, the real time, whatever ``:now`` the event is dated.
_EMIT = Plan(event_steps("event", due="due"))
_EMIT_EXCEPT = Plan(event_steps("event", excepted=True, due="due"))


@functools.cache
def _emit_named(count: int) -> Plan:
    return Plan(event_steps("event", named=count, due="due"))


async def emit(
    conn: Conn,
    *,
    env: str,
    merchant_id: str,
    type_: str,
    data: Any,
    now: datetime,
    endpoint_ids: Iterable[str] | None = None,
    trigger: str = "auto",
    event_id: str | None = None,
    except_endpoint: str | None = None,
) -> list[str]:
    """Write one event (``event_id``, else a new one) and a pending delivery per subscribed
    endpoint but ``except_endpoint`` (or per endpoint of ``endpoint_ids``); return the delivery
    ids. The event is dated ``now``, which a staging test clock may have put ahead
    (``billing.sandbox_clock``); its deliveries are due by the real clock, never later."""
    params: dict[str, Any] = {
        "env": env,
        "merchant_id": merchant_id,
        "now": now,
        "due": min(now, utcnow()),
        **event_params(type_, now, env, data, trigger=trigger, event_id=event_id),
    }
    plan = _EMIT
    if except_endpoint is not None:
        plan = _EMIT_EXCEPT
        params["event_except"] = except_endpoint
    if endpoint_ids is not None:
        named = list(endpoint_ids)
        if not named:
            return []
        plan = _emit_named(len(named))
        params.update({f"event_ep{i}": endpoint_id for i, endpoint_id in enumerate(named)})
    applied = await plan.run(await raw(conn), params)
    assert applied is not None
    return applied.ids("event_deliveries")


def kinds_of(ids: Iterable[str]) -> set[str]:
    """The kinds of work (the worker's lanes) that outbox rows ``ids`` are: a row's id says its
    kind by its prefix."""
    # Each prefix is its id's text up to its first "_": one look-up an id, not a scan of every
    # id for every prefix, on every send.
    return {kind for i in ids if (kind := _KIND_BY_PREFIX.get(i[: i.find("_") + 1])) is not None}


async def wake_for(redis: Redis, ids: Iterable[str]) -> None:
    """``wake`` for the kinds of outbox rows ``ids``, at once (the gateway groups its wakes
    through ``wakes.Waker``)."""
    await wake(redis, kinds_of(ids))


def wake_message(kinds: Iterable[str]) -> str:
    """One wake's text for every kind in it, spaces between: a send wakes two kinds (its
    delivery's and its mail's) with one publish, not one each."""
    return " ".join(sorted(kinds))


def kinds_in(message: str) -> list[str]:
    """The kinds a wake names (``wake_message``); a wake of one kind is that kind's name."""
    return message.split()


async def wake(redis: Redis, kinds: Iterable[str], *, within: float = ANSWER_WITHIN) -> None:
    """Best effort: tells the workers that rows of ``kinds`` are due, waiting ``within`` for
    Redis at most. A wake lost costs only time: each worker looks at its rows every
    ``AITOPUP_WORKER_IDLE_POLL_SECONDS`` anyway."""
    message = wake_message(kinds)
    if not message:
        return
    try:
        async with asyncio.timeout(within):
            await redis.publish(WAKE_CHANNEL, message)
    except Exception:
        log.warning("wake not published; the workers find the rows on their own", exc_info=True)
