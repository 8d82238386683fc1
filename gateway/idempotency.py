"""Stripe's idempotency rules: same key and same request within the TTL replays the first reply;
same key and another request is refused.

An idempotency key belongs to the API key that used it, as Stripe scopes one to the account key:
records are kept and looked up by the API key's id and env, so no key can read another's reply
or plant a refusal under a key another agent will use. Authorization comes before any of this:
the door authenticates the key (revocation, expiry) and the operation judges its policy before
``claim`` is called, so a key that may not make the request reads nothing stored.

The outcome is kept sealed (AES-GCM under the server's secret, bound to the merchant, the API
key, the env and the idempotency key): a reply holds a voucher, and nothing secret is kept in
clear at rest. Rows are purged once their TTL has passed (``purge``, run by the worker).

The key is claimed with ``INSERT … ON CONFLICT DO NOTHING`` in the request's own transaction,
before anything it writes: a payment's plan takes it as its first step (``claim_step``, which
the debit waits on: on PostgreSQL a CTE of the payment's one statement, no trip of its own),
any other write as a statement of its own (``claim``); either way the row is counted, not
returned (SQLite's RETURNING costs a write a third again). A concurrent duplicate blocks on the
unique index (PostgreSQL) or on the write lock (SQLite) until the first commits, then finds the
stored reply (``taken``): one debit, however many duplicates.

A payment that is one plan and nothing after it (a send) writes its answer instead as the plan's
last step (``answer_step``): the claim and the answer in one row, inserted once the debit took
the money, so the key's request is one statement, autocommitted, and its wallet's row is locked
for that statement alone rather than across two more trips. Its answer is sealed before the plan
runs, and the values only the plan computes (the balances after it, whether a mail was written)
are kept beside it in clear (``filled``: figures the wallets and the ledger keep in clear too);
``fill`` puts them into the answer, for the first reply and every replay alike. A duplicate's
insert finds the key taken (``UniqueViolated``), which undoes its whole statement, the debit
with it, and the stored reply is read as after a claim (``taken``).
"""

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Integer, String, Text, insert
from sqlalchemy.sql.elements import ColumnElement

from keys import Sealer, SealError

from .store.compose import NO_REFS, Refs
from .store.expressions import from_rows, json_object, param, upsert
from .store.models import IdempotencyRecord, table_of
from .store.raw import Conn, Construct, Statement, raw
from .store.types import UTCDateTime
from .values.code_names import Code
from .values.codes import CATALOGUE
from .values.outcome import ApiError, Outcome

__all__ = [
    "ANSWER_PARAMS",
    "CLAIM_PARAMS",
    "REPLAYED_HEADER",
    "Claimed",
    "KeyHolder",
    "answer_params",
    "answer_step",
    "claim",
    "claim_params",
    "claim_step",
    "fill",
    "fingerprint",
    "forget",
    "parse_key",
    "peek",
    "purge",
    "put",
    "record",
    "scope_of",
    "taken",
]

_MAX_KEY = 255
REPLAYED_HEADER = "Idempotent-Replayed"


class KeyHolder(Protocol):
    """Whoever sends an idempotency key: an API key (or a consent's token), in its env."""

    @property
    def merchant_id(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def env(self) -> str: ...


def scope_of(holder: KeyHolder, key: str) -> dict[str, str]:
    """Whose idempotency key ``key`` is: the calling API key's, in its env (``claim``'s and
    ``record``'s keyword arguments)."""
    return {
        "merchant_id": holder.merchant_id,
        "api_key_id": holder.key_id,
        "env": holder.env,
        "key": key,
    }


def parse_key(header: str | None) -> str | None:
    """The key as sent, without the spaces and tabs around it: HTTP does not count them as part
    of a header's value (RFC 9110, 5.5), and a proxy may or may not strip them, so ``k`` and
    ``k `` must be one key, never two debits."""
    if header is None:
        return None
    key = header.strip(" \t")
    if not 1 <= len(key) <= _MAX_KEY or not key.isprintable() or not key.isascii():
        raise ApiError(Code.INVALID_IDEMPOTENCY_KEY)
    return key


# One encoder for every fingerprint: ``json.dumps`` with any option builds a new one each call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def fingerprint(operation: str, body: Any) -> str:
    """The request as the operation sees it, whatever door it came through: its name (for
    example ``topup.send``) and its canonical body."""
    canonical = _CANONICAL.encode([operation, body])
    return hashlib.sha256(canonical.encode()).hexdigest()


_STORED = Statement(
    """SELECT request_hash, status_code, response_body, filled, created_at < :cutoff AS expired
    FROM idempotency_keys WHERE api_key_id = :api_key_id AND env = :env AND key = :key""",
    ("request_hash", "status_code", "response_body", "filled", "expired"),
)
_FORGET = Statement(
    "DELETE FROM idempotency_keys WHERE api_key_id = :api_key_id AND env = :env AND key = :key"
)
_RECORD = Statement(
    """UPDATE idempotency_keys SET status_code = :status_code, response_body = :response_body,
        filled = NULL
    WHERE api_key_id = :api_key_id AND env = :env AND key = :key"""
)


def _context(merchant_id: str, api_key_id: str, env: str, key: str) -> str:
    return f"idempotency:{merchant_id}:{api_key_id}:{env}:{key}"


def _opened(
    sealer: Sealer,
    stored: str,
    filled: str | None,
    merchant_id: str,
    api_key_id: str,
    env: str,
    key: str,
) -> Outcome:
    """Rows written before outcomes were sealed hold their envelope in clear, and rows kept
    from before idempotency keys were the API key's (migration 0008) are sealed to the merchant,
    env and key alone; both are gone once their TTL has passed. An answer its plan wrote has
    its plan's values put in (``fill``)."""
    if stored.startswith("{"):
        return Outcome.from_stored(stored)
    try:
        opened = sealer.open(stored, context=_context(merchant_id, api_key_id, env, key))
    except SealError:
        opened = sealer.open(stored, context=f"idempotency:{merchant_id}:{env}:{key}")
    outcome = Outcome.from_stored(opened)
    return outcome if filled is None else fill(outcome, json.loads(filled))


def fill(outcome: Outcome, values: Mapping[str, Any], **changes: Any) -> Outcome:
    """``outcome`` (sealed before its plan ran) with the values its plan computed put into its
    ``data``, each in its own place: a value the plan left NULL keeps what the answer said
    without it (a mail not written stays ``off``). The first reply and a replay are both made
    so, and alike. ``changes``: other fields of ``outcome`` changed in the same copy."""
    data = {**outcome.data, **{name: value for name, value in values.items() if value is not None}}
    return dataclasses.replace(outcome, data=data, **changes)


async def claim(
    conn: Conn,
    sealer: Sealer,
    *,
    merchant_id: str,
    api_key_id: str,
    env: str,
    key: str,
    request_hash: str,
    now: datetime,
    ttl_seconds: int,
) -> Outcome | None:
    """``None`` if this request now owns the key for this API key; else the outcome of the
    API key's first request with it."""
    db = await raw(conn)
    claiming = _claiming(merchant_id, api_key_id, env, key, request_hash, now)
    if await db.count(_CLAIM, claiming):
        return None
    stored = await taken(
        conn,
        sealer,
        merchant_id=merchant_id,
        api_key_id=api_key_id,
        env=env,
        key=key,
        request_hash=request_hash,
        now=now,
        ttl_seconds=ttl_seconds,
    )
    if stored is None:  # expired and forgotten: the key is free again
        await db.count(_CLAIM, claiming)
    return stored


async def taken(
    conn: Conn,
    sealer: Sealer,
    *,
    merchant_id: str,
    api_key_id: str,
    env: str,
    key: str,
    request_hash: str,
    now: datetime,
    ttl_seconds: int,
) -> Outcome | None:
    """After a claim found the key taken: the outcome of the API key's first request with it;
    or ``None`` when that request's TTL has passed, its row now deleted in this transaction so
    that the next claim takes the key."""
    db = await raw(conn)
    scope = {"api_key_id": api_key_id, "env": env, "key": key}
    row = await db.fetchrow(_STORED, {**scope, "cutoff": now - timedelta(seconds=ttl_seconds)})
    assert row is not None  # the claim's conflict is this row, and nothing deletes it but us
    if row["expired"]:
        await db.fetch(_FORGET, scope)
        return None
    if row["request_hash"] != request_hash:
        raise ApiError(Code.IDEMPOTENCY_KEY_REUSED)
    if row["status_code"] is None or row["response_body"] is None:
        # Only reachable if a reply was never recorded, which the claiming transaction forbids.
        raise ApiError(Code.INTERNAL_ERROR)
    filled = row["filled"]
    return _opened(sealer, row["response_body"], filled, merchant_id, api_key_id, env, key)


class Claimed(Exception):
    """A plan's claim (``claim_step``) found the key taken: nothing of the plan was written,
    and what the key keeps is ``taken``'s to read."""


# The claim step's parameters, each its own name: a payment's plan binds ``merchant_id``,
# ``api_key_id`` and ``now`` for its own rows, and the claim must be scoped to the caller
# whatever a kind's plan binds under those names.
_I = table_of(IdempotencyRecord)
CLAIM_PARAMS = frozenset(
    {"claim_merchant_id", "claim_api_key_id", "claim_env", "claim_key", "claim_hash", "claim_at"}
)


def claim_params(holder: KeyHolder, key: str, request_hash: str, now: datetime) -> dict[str, Any]:
    """``claim_step``'s parameters: ``holder``'s key ``key`` claimed for this request."""
    return _claiming(holder.merchant_id, holder.key_id, holder.env, key, request_hash, now)


def _claiming(
    merchant_id: str, api_key_id: str, env: str, key: str, request_hash: str, now: datetime
) -> dict[str, Any]:
    return {
        "claim_merchant_id": merchant_id,
        "claim_api_key_id": api_key_id,
        "claim_env": env,
        "claim_key": key,
        "claim_hash": request_hash,
        "claim_at": now,
    }


def _claim_row() -> dict[str, ColumnElement[Any]]:
    """The key's columns as a claim takes them, bound by ``claim_params``."""
    return {
        "merchant_id": param("claim_merchant_id", String),
        "api_key_id": param("claim_api_key_id", String),
        "env": param("claim_env", String),
        "key": param("claim_key", String),
        "request_hash": param("claim_hash", String),
        "created_at": param("claim_at", UTCDateTime()),
    }


def claim_step(refs: Refs) -> Construct:
    """The claim as a plan's first step (``claim``'s insert, bound by ``claim_params``): a row
    when this request now owns the key, none when another's holds it (``Claimed``)."""
    return (
        upsert(_I)
        .values(_claim_row())
        .on_conflict_do_nothing(index_elements=[_I.c.api_key_id, _I.c.env, _I.c.key])
    )


# The same claim as a statement of its own, for a write that is no plan (``claim``).
_CLAIM = Statement.of(claim_step(NO_REFS))

# The answer step's parameters beyond the claim's: the answer's status and its sealed text.
ANSWER_PARAMS = CLAIM_PARAMS | {"answer_status", "answer_sealed"}


def answer_params(
    sealer: Sealer,
    holder: KeyHolder,
    key: str,
    request_hash: str,
    now: datetime,
    outcome: Outcome,
) -> dict[str, Any]:
    """``answer_step``'s parameters: ``holder``'s key ``key`` taken for this request, with
    ``outcome`` (the answer as it stands before the plan ran) sealed as ``record`` seals one."""
    scope = (holder.merchant_id, holder.key_id, holder.env, key)
    return {
        **_claiming(*scope, request_hash, now),
        "answer_status": CATALOGUE[outcome.code].http_status,
        "answer_sealed": sealer.seal(outcome.stored(), context=_context(*scope)),
    }


def answer_step(
    refs: Refs, *, after: ColumnElement[bool], filled: Mapping[str, ColumnElement[Any]]
) -> Construct:
    """The key taken and its answer kept in one row, once ``after`` holds (the debit took the
    money), as a plan's last step: a plain insert, so a row already there for the key fails the
    whole statement (``UniqueViolated``) and undoes the rest. ``filled``: the plan's values the
    answer is given on replay, by name (``fill``), kept as JSON text."""
    row = {
        **_claim_row(),
        "status_code": param("answer_status", Integer),
        "response_body": param("answer_sealed", Text),
        "filled": json_object(filled),
    }
    return from_rows(insert(_I), [row], where=after)


async def record(
    conn: Conn,
    sealer: Sealer,
    *,
    merchant_id: str,
    api_key_id: str,
    env: str,
    key: str,
    outcome: Outcome,
) -> None:
    sealed = sealer.seal(outcome.stored(), context=_context(merchant_id, api_key_id, env, key))
    await (await raw(conn)).fetch(
        _RECORD,
        {
            "api_key_id": api_key_id,
            "env": env,
            "key": key,
            "status_code": CATALOGUE[outcome.code].http_status,
            "response_body": sealed,
        },
    )


_PURGE = Statement(
    """DELETE FROM idempotency_keys WHERE id IN (
        SELECT id FROM idempotency_keys WHERE created_at < :cutoff LIMIT :batch)
    RETURNING id""",
    ("id",),
)


async def purge(conn: Conn, *, now: datetime, ttl_seconds: int, batch: int = 1000) -> int:
    """Delete up to ``batch`` keys whose TTL has passed; how many went. A replay after the TTL
    would be a new request anyway (``claim`` frees an expired key)."""
    cutoff = now - timedelta(seconds=ttl_seconds)
    return len(await (await raw(conn)).fetch(_PURGE, {"cutoff": cutoff, "batch": batch}))


_PUT = Statement(
    """INSERT INTO idempotency_keys
        (merchant_id, api_key_id, env, key, request_hash, created_at, status_code, response_body)
    VALUES (:merchant_id, :api_key_id, :env, :key, :request_hash, :now, :status_code,
        :response_body)
    ON CONFLICT (api_key_id, env, key) DO UPDATE SET request_hash = excluded.request_hash,
        created_at = excluded.created_at, status_code = excluded.status_code,
        response_body = excluded.response_body, filled = NULL"""
)


async def peek(
    conn: Conn,
    sealer: Sealer,
    *,
    merchant_id: str,
    api_key_id: str,
    env: str,
    key: str,
    request_hash: str,
    now: datetime,
    ttl_seconds: int,
) -> Outcome | None:
    """The reply kept under the key, without claiming it: ``None`` when none is kept (or its
    TTL has passed, or it is still being decided); ``IDEMPOTENCY_KEY_REUSED`` when it was
    another request's. A paid retry (``protocols.paid``) reads it before it pays."""
    scope = {"api_key_id": api_key_id, "env": env, "key": key}
    cutoff = now - timedelta(seconds=ttl_seconds)
    row = await (await raw(conn)).fetchrow(_STORED, {**scope, "cutoff": cutoff})
    if row is None or row["expired"]:
        return None
    if row["request_hash"] != request_hash:
        raise ApiError(Code.IDEMPOTENCY_KEY_REUSED)
    if row["response_body"] is None:
        return None
    filled = row["filled"]
    return _opened(sealer, row["response_body"], filled, merchant_id, api_key_id, env, key)


async def put(
    conn: Conn,
    sealer: Sealer,
    *,
    merchant_id: str,
    api_key_id: str,
    env: str,
    key: str,
    request_hash: str,
    now: datetime,
    outcome: Outcome,
) -> None:
    """Keep ``outcome`` under the key whatever was kept there: a paid retry's reply takes the
    place of the refusal for funds it paid, so the key answers what was done, not the 402."""
    sealed = sealer.seal(outcome.stored(), context=_context(merchant_id, api_key_id, env, key))
    await (await raw(conn)).fetch(
        _PUT,
        {
            "merchant_id": merchant_id,
            "api_key_id": api_key_id,
            "env": env,
            "key": key,
            "request_hash": request_hash,
            "now": now,
            "status_code": CATALOGUE[outcome.code].http_status,
            "response_body": sealed,
        },
    )


async def forget(conn: Conn, *, merchant_id: str, api_key_id: str, env: str, key: str) -> None:
    """The key free again, whatever it kept: a paid retry (``protocols.paid``) frees the refusal
    for funds it paid before the request runs under the key once more."""
    await (await raw(conn)).fetch(_FORGET, {"api_key_id": api_key_id, "env": env, "key": key})
