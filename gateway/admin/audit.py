"""Who called the admin API, what for, and how it went: one row per call.

A call that changes something writes its row in the same transaction as the change, so a change
without its audit row cannot commit; reads and refusals get theirs right after.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from ..codes import CATALOGUE, Code
from ..outcome import ApiError
from ..settings import Settings
from ..store.db import Database
from ..store.models import AuditRecord, table_of

__all__ = ["Call", "authenticate", "record", "record_after"]

_A = table_of(AuditRecord)
_ACTOR = re.compile(r"[\w .@+:/-]{1,100}")
DEFAULT_ACTOR = "admin"


@dataclass(slots=True)
class Call:
    """One authenticated admin call, carried into the services that audit it."""

    actor: str
    action: str
    method: str
    path: str
    request_id: str | None
    audited: bool = False


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def authenticate(request: Request, settings: Settings, action: str) -> Call:
    """The shared admin token, compared in constant time; ``X-Admin-Actor`` names the human."""
    configured = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not configured:
        raise ApiError(Code.ADMIN_DISABLED)
    challenge = {"WWW-Authenticate": "Bearer"}
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(Code.ADMIN_TOKEN_MISSING, headers=challenge)
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    # Digests first: compare_digest then sees equal lengths and leaks nothing about the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(_digest(raw), _digest(configured)):
        code = Code.ADMIN_API_KEY_REFUSED if raw.startswith("ak_") else Code.ADMIN_TOKEN_INVALID
        raise ApiError(code, headers=challenge)
    actor = request.headers.get("x-admin-actor", DEFAULT_ACTOR).strip() or DEFAULT_ACTOR
    if not _ACTOR.fullmatch(actor):
        raise ApiError(
            Code.VALIDATION_FAILED,
            "X-Admin-Actor must be 1 to 100 letters, digits, spaces or . @ + : / - _",
        )
    return Call(
        actor=actor,
        action=action,
        method=request.method,
        path=request.url.path[:500],
        request_id=(request.headers.get("x-request-id") or "")[:100] or None,
    )


async def record(
    conn: AsyncConnection,
    call: Call,
    code: Code,
    now: datetime,
    *,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    http_status: int | None = None,
) -> None:
    await conn.execute(
        insert(_A).values(
            actor=call.actor,
            action=call.action,
            method=call.method,
            path=call.path,
            target_id=target_id,
            status_code=http_status or CATALOGUE[code].http_status,
            code=int(code),
            details=details,
            request_id=call.request_id,
            created_at=now,
        )
    )
    call.audited = True


async def record_after(
    db: Database,
    call: Call,
    code: Code,
    now: datetime,
    *,
    http_status: int | None = None,
    target_id: str | None = None,
) -> None:
    """For calls that changed nothing: reads, and refusals after authentication."""
    if call.audited:
        return
    async with db.transaction() as conn:
        await record(conn, call, code, now, target_id=target_id, http_status=http_status)
