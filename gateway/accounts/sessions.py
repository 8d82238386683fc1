"""Dashboard sessions, kept in the store so every gateway process sees the same ones.

The cookie carries a random id (32 bytes); the row keeps only its SHA-256, the user, the chosen
environment and the session's CSRF token. A session lasts ``IDLE`` past its last use, and never
more than ``MAX_AGE`` from sign-in; its last use is written at most once per ``TOUCH_EVERY``,
so a page view is not a write. Sign-in always makes a new id; sign-out deletes the row.
"""

import hashlib
import hmac
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import levels_of
from ..store.engine import Database
from ..store.models import (
    DashboardSession,
    Merchant,
    MerchantUser,
    User,
    Wallet,
    table_of,
)
from ..store.rows import CoreRow
from ..values import statuses
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import Outcome

__all__ = [
    "ENVS",
    "IDLE",
    "MAX_AGE",
    "SessionInfo",
    "anonymous_csrf",
    "end",
    "end_all",
    "end_every",
    "held_for_approval",
    "holders",
    "load",
    "new_id",
    "start",
    "switch_env",
]

_S = table_of(DashboardSession)
_U = table_of(User)
_MU = table_of(MerchantUser)
_M = table_of(Merchant)
_W = table_of(Wallet)

ENVS = ("staging", "live")
IDLE = timedelta(hours=12)
MAX_AGE = timedelta(days=7)
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id_hash: str
    user_id: str
    email: str
    merchant_id: str
    merchant_name: str
    env: str
    csrf_token: str
    wallet_id: str
    low_balance_threshold_cents: int
    role: str = "viewer"  # accounts.roles: what this user may do for the merchant
    pending_approvals: int = 0  # the merchant's sends and payments held for approval in ``env``
    language: str | None = None  # the user's own setting (``values.languages``); None: unset
    # The wallet's low-balance levels where it has a list (``callers.Caller.low_levels``).
    low_levels: tuple[int, ...] | None = None


def held_for_approval(merchant_id: Any, env: Any, held: Sequence[Table]) -> Any:
    """How many of a merchant's rows in ``env`` wait for approval in the tables of every kind
    of hold (``held``, ``holds.registry``): the navigation's count, as a scalar expression
    (of columns or values), read with the session and by the live stream. Each kind's index of
    its held rows answers it."""
    counts = [
        select(func.count())
        .select_from(t)
        .where(t.c.merchant_id == merchant_id, t.c.env == env, t.c.status == statuses.HELD)
        .scalar_subquery()
        for t in held
    ]
    return sum(counts[1:], counts[0]) if counts else literal(0)


def new_id() -> str:
    return secrets.token_urlsafe(32)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def anonymous_csrf(session_id: str, secret: bytes) -> str:
    """The CSRF token of a visitor who has not signed in: bound to their cookie's id by an HMAC,
    so forms before sign-in are protected without a row a visit."""
    return hmac.new(secret, b"dashboard-csrf:" + session_id.encode(), hashlib.sha256).hexdigest()


async def start(
    db: Database, user_id: str, *, ending: str | None = None, env: str = "staging"
) -> Outcome:
    """A new session for ``user_id``; its id is the data, for the cookie alone. The session
    ``ending`` names (the one the visitor came with) is ended in the same transaction, so an
    id known before sign-in is worth nothing after it. Expired sessions are cleared on the way,
    so the table holds only live ones and those of the last sign-ins."""
    session_id = new_id()
    now = utcnow()
    async with db.transaction() as conn:
        if ending is not None:
            await conn.execute(delete(_S).where(_S.c.id_hash == _hash(ending)))
        await conn.execute(delete(_S).where(_S.c.expires_at <= now))
        await conn.execute(
            insert(_S).values(
                id_hash=_hash(session_id),
                user_id=user_id,
                env=env,
                csrf_token=secrets.token_hex(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + IDLE,
            )
        )
    return Outcome(Code.CREATED, session_id)


async def load(db: Database, session_id: str, held: Sequence[Table]) -> Outcome:
    """The live session behind ``session_id`` (``SessionInfo``) with its user, merchant and
    the merchant's wallet in the session's environment, and how many rows of the kinds of hold
    whose tables are ``held`` wait for approval; no data for an unknown or expired id, which is
    no refusal: the visitor is simply not signed in."""
    now = utcnow()
    id_hash = _hash(session_id)
    stmt = (
        select(
            _S.c.user_id,
            _S.c.env,
            _S.c.csrf_token,
            _S.c.created_at,
            _S.c.last_seen_at,
            _U.c.email,
            _MU.c.merchant_id,
            func.coalesce(_M.c.display_name, _M.c.name).label("merchant_name"),
            func.coalesce(_W.c.low_balance_threshold_cents, _M.c.low_balance_threshold_cents).label(
                "low_balance_threshold_cents"
            ),
            _W.c.low_thresholds_cents,
            _W.c.id.label("wallet_id"),
            _MU.c.role,
            held_for_approval(_MU.c.merchant_id, _S.c.env, held).label("pending_approvals"),
            _U.c.language,
        )
        .join(_U, _U.c.id == _S.c.user_id)
        .join(_MU, _MU.c.user_id == _S.c.user_id)
        .join(_M, _M.c.id == _MU.c.merchant_id)
        .join(_W, (_W.c.env == _S.c.env) & (_W.c.owner == "m:" + _MU.c.merchant_id))
        .where(_S.c.id_hash == id_hash, _S.c.expires_at > now)
        .order_by(_MU.c.created_at, _MU.c.merchant_id)
        .limit(1)
    )
    async with db.read() as conn:
        row: CoreRow | None = (await conn.execute(stmt)).first()
    if row is None:
        return Outcome(Code.SUCCESS)
    if now - row.last_seen_at >= TOUCH_EVERY:
        async with db.transaction() as conn:
            await conn.execute(
                update(_S)
                .where(_S.c.id_hash == id_hash)
                .values(last_seen_at=now, expires_at=min(now + IDLE, row.created_at + MAX_AGE))
            )
    found = SessionInfo(
        id_hash,
        row.user_id,
        row.email,
        row.merchant_id,
        row.merchant_name,
        row.env,
        row.csrf_token,
        row.wallet_id,
        int(row.low_balance_threshold_cents),
        str(row.role),
        int(row.pending_approvals),
        row.language,
        levels_of(row.low_thresholds_cents),
    )
    return Outcome(Code.SUCCESS, found)


async def holders(db: Database, id_hashes: Collection[str]) -> Outcome:
    """``(id_hash, env, merchant_id)`` for every live session among ``id_hashes`` and every
    merchant its user belongs to (a set, the data), in one statement: what open live streams
    are checked against. The last use is not written: a stream is not a visit."""
    if not id_hashes:
        return Outcome(Code.SUCCESS, set())
    stmt = (
        select(_S.c.id_hash, _S.c.env, _MU.c.merchant_id)
        .join(_MU, _MU.c.user_id == _S.c.user_id)
        .where(_S.c.id_hash.in_(sorted(id_hashes)), _S.c.expires_at > utcnow())
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return Outcome(Code.SUCCESS, {(row[0], row[1], row[2]) for row in rows})


async def end(db: Database, session_id: str) -> Outcome:
    """Sign out: the session behind ``session_id`` ends (an unknown id changes nothing)."""
    async with db.transaction() as conn:
        await conn.execute(delete(_S).where(_S.c.id_hash == _hash(session_id)))
    return Outcome(Code.SUCCESS)


async def end_every(conn: AsyncConnection, user_id: str, *, keeping: str | None = None) -> None:
    """In the caller's transaction: end every session of ``user_id`` but the one whose hash is
    ``keeping``; each page and live stream of those sessions is refused from its next request."""
    stmt = delete(_S).where(_S.c.user_id == user_id)
    if keeping is not None:
        stmt = stmt.where(_S.c.id_hash != keeping)
    await conn.execute(stmt)


async def end_all(db: Database, user_id: str) -> Outcome:
    """Sign out everywhere: every session of ``user_id`` ends, the caller's own too."""
    async with db.transaction() as conn:
        await end_every(conn, user_id)
    return Outcome(Code.SUCCESS)


async def switch_env(db: Database, id_hash: str, env: str) -> Outcome:
    """The session looks at ``env`` from its next request; ``ENVS`` names the choices."""
    if env not in ENVS:
        raise ValueError(env)
    async with db.transaction() as conn:
        await conn.execute(update(_S).where(_S.c.id_hash == id_hash).values(env=env))
    return Outcome(Code.SUCCESS)
