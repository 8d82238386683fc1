"""Stripe's idempotency rules: same key and same request within the TTL replays the first reply;
same key and another request is refused.

The key is claimed with ``INSERT … ON CONFLICT DO NOTHING`` at the start of the request's own
transaction. A concurrent duplicate blocks on the unique index (PostgreSQL) or on the write lock
(SQLite) until the first commits, then finds the stored reply: one debit, however many duplicates.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from .codes import Code
from .envelope import ApiError
from .store.db import Database
from .store.models import IdempotencyRecord, table_of

__all__ = ["StoredReply", "claim", "fingerprint", "parse_key", "record"]

_I = table_of(IdempotencyRecord)
_MAX_KEY = 255
REPLAYED_HEADER = "Idempotent-Replayed"


def parse_key(header: str | None) -> str | None:
    if header is None:
        return None
    if not 1 <= len(header) <= _MAX_KEY or not header.isprintable() or not header.isascii():
        raise ApiError(Code.INVALID_IDEMPOTENCY_KEY)
    return header


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredReply:
    status_code: int
    body: bytes

    def response(self) -> Response:
        return Response(
            self.body,
            status_code=self.status_code,
            media_type="application/json",
            headers={REPLAYED_HEADER: "true"},
        )


async def claim(
    conn: AsyncConnection,
    db: Database,
    *,
    merchant_id: str,
    env: str,
    key: str,
    request_hash: str,
    now: datetime,
    ttl_seconds: int,
) -> StoredReply | None:
    """``None`` if this request now owns the key; else the first request's reply."""
    scope = (_I.c.merchant_id == merchant_id, _I.c.env == env, _I.c.key == key)
    insert_stmt = (
        db.insert(_I)
        .values(
            merchant_id=merchant_id, env=env, key=key, request_hash=request_hash, created_at=now
        )
        .on_conflict_do_nothing(index_elements=[_I.c.merchant_id, _I.c.env, _I.c.key])
        .returning(_I.c.id)
    )
    if (await conn.execute(insert_stmt)).first() is not None:
        return None
    row = (
        await conn.execute(
            select(_I.c.request_hash, _I.c.status_code, _I.c.response_body, _I.c.created_at).where(
                *scope
            )
        )
    ).one()
    if row.created_at < now - timedelta(seconds=ttl_seconds):
        # Expired: the key is free again.
        await conn.execute(delete(_I).where(*scope))
        await conn.execute(insert_stmt)
        return None
    if row.request_hash != request_hash:
        raise ApiError(Code.IDEMPOTENCY_KEY_REUSED)
    if row.status_code is None or row.response_body is None:
        # Only reachable if a reply was never recorded, which the claiming transaction forbids.
        raise ApiError(Code.INTERNAL_ERROR)
    return StoredReply(row.status_code, row.response_body.encode())


async def record(
    conn: AsyncConnection, *, merchant_id: str, env: str, key: str, response: Response
) -> None:
    await conn.execute(
        update(_I)
        .where(_I.c.merchant_id == merchant_id, _I.c.env == env, _I.c.key == key)
        .values(status_code=response.status_code, response_body=bytes(response.body).decode())
    )
