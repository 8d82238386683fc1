"""Password reset by e-mail: a single-use, expiring link, and no account enumeration.

Asking always answers the same (``PASSWORD_RESET_REQUESTED``) and does the same kind of work
whether or not the address has an account: a lookup and a transaction, never a hash and never
SMTP in the request (the worker sends the mail). Only an account's owner gets a link. The store
keeps the link's token only as its SHA-256 (``password_resets``); spending it is one conditional
UPDATE (unused, unexpired), so it works once. A new password ends every session of the account
and voids its other links (``users._void_links``). The token is looked up before the new
password is hashed: a forged or spent link costs a lookup, never a hash, nor one of the
process's hash slots that sign-in needs. Requests are counted per client address and per
address (its digest) in Redis (``mail.requests``).
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..mail import rows as mail
from ..mail.content import expires_text
from ..mail.requests import Asked, mail_link
from ..redis_client import Redis
from ..store.engine import Database
from ..store.models import PasswordReset, User, table_of
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import sessions
from .fields import check_new_password
from .passwords import HashSlots, hash_password, slot_of
from .users import UserInfo, _first_membership, _void_links

__all__ = ["issue_reset", "request_reset", "reset_password", "resetting"]

_R = table_of(PasswordReset)
_U = table_of(User)
TOKEN_LENGTH = 100  # what a form or a query may carry as a token


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def request_reset(
    db: Database, redis: Redis, sealer: Sealer, settings: Settings, *, email: str, client: str
) -> Outcome:
    """``email`` (canonical) asks for a reset link; the same answer whatever it is."""
    asked = Asked(
        "reset",
        settings.mail_resets_per_client_per_hour,
        settings.mail_resets_per_address_per_hour,
        Code.PASSWORD_RESETS_RATE_LIMITED,
        Code.PASSWORD_RESET_REQUESTED,
    )

    async def owed(conn: AsyncConnection, now: datetime) -> tuple[str, dict[str, Any]] | None:
        user_id = (await conn.execute(select(_U.c.id).where(_U.c.email == email))).scalar()
        if user_id is None:
            return None
        expires = now + timedelta(seconds=settings.mail_reset_ttl_seconds)
        token = await _issue(conn, user_id, now, expires)
        return mail.PASSWORD_RESET, {"token": token, "expires": expires_text(expires)}

    return await mail_link(
        db, redis, sealer, asked, email=email, client=client, env=mail.ACCOUNT,
        merchant_id=None, owed=owed, answer_within=settings.redis_answer_seconds,
    )  # fmt: skip


async def _issue(conn: AsyncConnection, user_id: str, now: datetime, expires: datetime) -> str:
    """A fresh reset token for ``user_id``, stored as its SHA-256 alone."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        insert(_R).values(
            token_hash=_hash(token), user_id=user_id, expires_at=expires, created_at=now
        )
    )
    return token


async def issue_reset(db: Database, settings: Settings, email: str) -> tuple[str, datetime] | None:
    """A reset link's token for the account ``email`` names, and when it expires, given to
    the operator's command (``make run``'s demo sign-in) rather than mailed: single use,
    ``mail_reset_ttl_seconds`` long, stored hashed, as a mailed one. It replaces the account's
    unused reset links: however often ``make run`` starts, the last link it printed is the one
    that works, never a pile of them left in old terminals. ``None``: no such account."""
    now = utcnow()
    expires = now + timedelta(seconds=settings.mail_reset_ttl_seconds)
    async with db.transaction() as conn:
        user_id = (await conn.execute(select(_U.c.id).where(_U.c.email == email))).scalar()
        if user_id is None:
            return None
        await conn.execute(
            update(_R).where(_R.c.user_id == user_id, _R.c.used_at.is_(None)).values(used_at=now)
        )
        return await _issue(conn, user_id, now, expires), expires


async def resetting(db: Database, token: str) -> Outcome:
    """The address whose password a live (unused, unexpired) token resets (the data), else
    ``ACCOUNT_LINK_INVALID``."""
    if not token or len(token) > TOKEN_LENGTH:
        raise ApiError(Code.ACCOUNT_LINK_INVALID)
    async with db.read() as conn:
        found = await conn.execute(
            select(_U.c.email)
            .join(_R, _R.c.user_id == _U.c.id)
            .where(
                _R.c.token_hash == _hash(token), _R.c.used_at.is_(None), _R.c.expires_at > utcnow()
            )
        )
        email = found.scalar()
    if email is None:
        raise ApiError(Code.ACCOUNT_LINK_INVALID)
    return Outcome(Code.SUCCESS, str(email))


async def reset_password(
    db: Database, token: str, password: str, hashes: HashSlots | None = None
) -> Outcome:
    """Spend ``token``: the password set, the token used, the account's other links void and
    every session of the account ended, in one transaction; ``PASSWORD_RESET_DONE`` with the
    user (``UserInfo``). ``ACCOUNT_LINK_INVALID`` (nothing changed, nothing hashed) if the token
    is unknown, used or expired; nothing changed either, the token left unspent, when the
    account is no longer a member of any merchant. The hash takes one of ``hashes``' slots."""
    check_new_password(password)
    if not token or len(token) > TOKEN_LENGTH:
        raise ApiError(Code.ACCOUNT_LINK_INVALID)
    digest = _hash(token)
    async with db.read() as conn:
        live = await conn.execute(
            select(_R.c.user_id).where(
                _R.c.token_hash == digest, _R.c.used_at.is_(None), _R.c.expires_at > utcnow()
            )
        )
        if live.first() is None:
            raise ApiError(Code.ACCOUNT_LINK_INVALID)
    with slot_of(hashes):
        password_hash = await hash_password(password)
    now = utcnow()
    async with db.transaction() as conn:
        spent = await conn.execute(
            update(_R)
            .where(_R.c.token_hash == digest, _R.c.used_at.is_(None), _R.c.expires_at > now)
            .values(used_at=now)
            .returning(_R.c.user_id)
        )
        user_id = spent.scalar()
        if user_id is None:  # spent by a concurrent reset meanwhile
            raise ApiError(Code.ACCOUNT_LINK_INVALID)
        row = (
            await conn.execute(
                update(_U)
                .where(_U.c.id == user_id)
                .values(password_hash=password_hash)
                .returning(_U.c.id, _U.c.email)
            )
        ).one()
        membership = await _first_membership(conn, row.id)
        if membership is None:  # no merchant to sign in to: refused, the link left unspent
            raise ApiError(Code.ACCOUNT_LINK_INVALID)
        await _void_links(conn, row.id, now)
        await sessions.end_every(conn, row.id)
    return Outcome(Code.PASSWORD_RESET_DONE, UserInfo(row.id, row.email, *membership))
