"""Who called the admin API, what for, and how it went: one row per call.

A call that changes something writes its row in the same transaction as the change, so a change
without its audit row cannot commit; reads and refusals get theirs right after. A refused token
gets one too (``record_refused``): who tried, from where, with what result, never what they sent.
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

from ..store.engine import Database
from ..store.models import AuditRecord, table_of
from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.outcome import ApiError
from ..values.settings import Settings

__all__ = [
    "REFUSED_TOKEN",
    "Call",
    "authenticate",
    "record",
    "record_after",
    "record_refused",
    "require_enabled",
]

_A = table_of(AuditRecord)
_ACTOR = re.compile(r"[\w .@+:/-]{1,100}")
DEFAULT_ACTOR = "admin"
# The actor of an attempt whose token was refused: nobody is known to have called.
UNAUTHENTICATED = "unauthenticated"
# The refusals of ``authenticate`` that are failed attempts at the token (counted and audited).
REFUSED_TOKEN = frozenset(
    {
        Code.ADMIN_TOKEN_MISSING,
        Code.ADMIN_TOKEN_INVALID,
        Code.ADMIN_API_KEY_REFUSED,
        Code.AUTH_HEADER_REPEATED,
    }
)


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


def require_enabled(settings: Settings) -> str:
    """The configured token; ``ADMIN_DISABLED`` without one."""
    configured = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not configured:
        raise ApiError(Code.ADMIN_DISABLED)
    return configured


def authenticate(request: Request, settings: Settings, action: str) -> Call:
    """The shared admin token, compared in constant time; ``X-Admin-Actor`` names the human."""
    configured = require_enabled(settings)
    challenge = {"WWW-Authenticate": "Bearer"}
    headers = request.headers.getlist("authorization")
    if not headers:
        raise ApiError(Code.ADMIN_TOKEN_MISSING, headers=challenge)
    if len(headers) > 1:
        raise ApiError(Code.AUTH_HEADER_REPEATED)
    scheme, _, raw = headers[0].partition(" ")
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
    return _call(request, actor, action)


def _call(request: Request, actor: str, action: str) -> Call:
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


async def record_refused(
    db: Database, request: Request, action: str, code: Code, client: str, now: datetime
) -> None:
    """A refused attempt at the token: the client's address, the route and the refusal. Not the
    header (a near miss of the token, or a merchant's key) nor the actor it claimed."""
    call = _call(request, UNAUTHENTICATED, action)
    target = request.path_params.get("id")
    async with db.transaction() as conn:
        await record(
            conn,
            call,
            code,
            now,
            target_id=str(target)[:60] if target is not None else None,
            details={"client": client},
        )
