"""Polling endpoints, as Svix's: a consumer that cannot receive HTTP reads its merchant's events
by iterator instead, with a key of its own that reads that poller and nothing else.

``POST /webhooks/pollers`` makes one (its key and signing secret shown once);
``GET /webhooks/pollers/{id}?iterator=…`` answers the next events after the iterator, oldest
first, each with the exact body and the Standard Webhooks headers an endpoint would have got,
signed with the poller's secret at the time of the read; ``since`` seeks to a time instead. The
iterator is the last event id read, so a consumer that restarts goes on where it stopped.

Events are read in id order, and an id is taken before its transaction commits: only events
older than ``webhook_poller_settle_seconds`` are served, so none commits behind an iterator.
"""

import hmac
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select

from keys import (
    InvalidApiKey,
    Sealer,
    decode_webhook_secret,
    hash_poller_key,
    mint_poller_key,
    new_webhook_secret,
    poller_key_env,
    sign_headers,
)

from ..callers import Caller
from ..store.engine import Database
from ..store.models import Event, Merchant, WebhookPoller, table_of
from ..store.rows import CoreRow
from ..values.clock import new_id, rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .schemas import (
    PolledEvent,
    PollerCreate,
    PollerData,
    PollerKeyData,
    PollerRead,
)

__all__ = ["Reader", "create_poller", "delete_poller", "list_pollers", "read_poller", "reader"]

_P = table_of(WebhookPoller)
_E = table_of(Event)
_M = table_of(Merchant)
_ID_LENGTH = 28  # evt_ and 24


def _data(row: CoreRow) -> PollerData:
    return PollerData(
        id=row.id,
        env=row.env,
        description=row.description,
        event_types=[t for t in row.event_types.split(",") if t],
        created_at=rfc3339(row.created_at),
    )


def _mine(caller: Caller) -> tuple[Any, ...]:
    return (_P.c.merchant_id == caller.merchant_id, _P.c.env == caller.env)


async def create_poller(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    pepper: bytes,
    caller: Caller,
    body: PollerCreate,
) -> Outcome:
    """At most ``max_pollers_per_merchant_env``; creates for one merchant take turns on its row,
    so two concurrent creates cannot both see room for one more."""
    poller_id = new_id("wpl")
    key = mint_poller_key("live" if caller.env == "live" else "staging")
    secret = new_webhook_secret()
    types = body.event_types or []
    now = utcnow()
    async with db.transaction() as conn:
        await conn.execute(select(_M.c.id).where(_M.c.id == caller.merchant_id).with_for_update())
        count = (
            await conn.execute(select(func.count()).select_from(_P).where(*_mine(caller)))
        ).scalar_one()
        if count >= settings.max_pollers_per_merchant_env:
            raise ApiError(
                Code.WEBHOOK_POLLER_LIMIT_REACHED,
                data={"limit": settings.max_pollers_per_merchant_env},
            )
        row = (
            await conn.execute(
                insert(_P)
                .values(
                    id=poller_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    description=body.description,
                    event_types=f",{','.join(types)}," if types else "",
                    key_hash=hash_poller_key(key, pepper),
                    secret_sealed=sealer.seal(secret, context=poller_id),
                    created_at=now,
                )
                .returning(_P)
            )
        ).one()
    made = PollerKeyData(**_data(row).model_dump(), key=key, secret=secret)
    return Outcome(Code.CREATED, made)


async def list_pollers(db: Database, caller: Caller) -> Outcome:
    async with db.read() as conn:
        rows = (await conn.execute(select(_P).where(*_mine(caller)).order_by(_P.c.id))).all()
    return Outcome(Code.SUCCESS, [_data(r) for r in rows])


async def delete_poller(db: Database, caller: Caller, poller_id: str) -> Outcome:
    """Deleted at once: its key reads nothing from the next request on."""
    async with db.transaction() as conn:
        row = (
            await conn.execute(delete(_P).where(_P.c.id == poller_id, *_mine(caller)).returning(_P))
        ).first()
    if row is None:
        raise ApiError(Code.WEBHOOK_POLLER_NOT_FOUND)
    return Outcome(Code.DELETED, _data(row))


# Who reads: the poller's own key (``key``), or a key of its merchant with the webhooks scope.
Reader = Caller | str


def reader(presented: str | None, caller: Caller | None) -> Reader:
    """The poller key a request presents, or else its caller; refused when it has neither."""
    if presented is not None:
        return presented
    if caller is None:
        raise ApiError(Code.WEBHOOK_POLLER_KEY_INVALID)
    return caller


async def _poller(db: Database, pepper: bytes, who: Reader, poller_id: str) -> CoreRow:
    """The poller ``who`` may read: its own key's (compared in constant time), or one of the
    caller's merchant and environment. A key that is not this poller's is refused as invalid,
    whether or not the poller exists, so a key tells nothing of other pollers."""
    async with db.read() as conn:
        row = (await conn.execute(select(_P).where(_P.c.id == poller_id))).first()
    if isinstance(who, str):
        try:
            env = poller_key_env(who)
        except InvalidApiKey:
            raise ApiError(Code.WEBHOOK_POLLER_KEY_INVALID) from None
        digest = hash_poller_key(who, pepper)
        expected = row.key_hash if row is not None else "0" * len(digest)
        if not hmac.compare_digest(digest, expected) or row is None or row.env != env:
            raise ApiError(Code.WEBHOOK_POLLER_KEY_INVALID)
        return row
    if row is None or row.merchant_id != who.merchant_id or row.env != who.env:
        raise ApiError(Code.WEBHOOK_POLLER_NOT_FOUND)
    return row


def _signed(secret: bytes, event: CoreRow, timestamp: int) -> PolledEvent:
    body = event.payload.encode()
    headers = sign_headers([secret], event.id, timestamp, body)
    return PolledEvent(
        id=event.id,
        type=event.type,
        created_at=rfc3339(event.created_at),
        payload=event.payload,
        headers=headers,
    )


async def read_poller(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    pepper: bytes,
    who: Reader,
    poller_id: str,
    query: PollerRead,
) -> Outcome:
    """The next ``limit`` events after the iterator (or from ``since``), oldest first; ``done``
    when no more were ready. The answer's iterator is the last one's id (or the one given)."""
    if query.iterator is not None and query.since is not None:
        raise ApiError(Code.WEBHOOK_POLLER_ITERATOR_INVALID)
    if query.iterator is not None and not (
        query.iterator.startswith("evt_") and len(query.iterator) == _ID_LENGTH
    ):
        raise ApiError(Code.WEBHOOK_POLLER_ITERATOR_INVALID)
    row = await _poller(db, pepper, who, poller_id)
    ready = utcnow() - timedelta(seconds=settings.webhook_poller_settle_seconds)
    stmt = (
        select(_E.c.id, _E.c.type, _E.c.payload, _E.c.created_at)
        .where(_E.c.merchant_id == row.merchant_id, _E.c.env == row.env, _E.c.created_at <= ready)
        .order_by(_E.c.id)
        .limit(query.limit)
    )
    types: Sequence[str] = [t for t in row.event_types.split(",") if t]
    if types:
        stmt = stmt.where(_E.c.type.in_(types))
    if query.iterator is not None:
        stmt = stmt.where(_E.c.id > query.iterator)
    elif query.since is not None:
        stmt = stmt.where(_E.c.created_at >= query.since)
    async with db.read() as conn:
        events = (await conn.execute(stmt)).all()
    secret = decode_webhook_secret(sealer.open(row.secret_sealed, context=row.id))
    now = int(time.time())
    data = [_signed(secret, e, now) for e in events]
    iterator = events[-1].id if events else query.iterator
    meta = {"iterator": iterator, "done": len(events) < query.limit, "limit": query.limit}
    return Outcome(Code.SUCCESS, data, meta=meta)
