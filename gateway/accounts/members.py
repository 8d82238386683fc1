"""The people of a merchant and their roles: list, change a role, remove.

A merchant never loses its last owner: a change that would take the owners to none is refused
(``LAST_OWNER``). The check and the write happen under the merchant row's lock (``FOR UPDATE``
on PostgreSQL; SQLite's one writer takes the write lock at ``BEGIN``), so two owners demoting
each other at once leave exactly one of them an owner. A new role takes effect from the member's
next request (every page loads it with the session); a removed member's sessions no longer
open this merchant. The consents a member gave apps, and the keys they made on the dashboard,
end with their right to give them: all of them when they leave, those their new role could not
give when it changes (``end_given``, one rule for both, ``roles.gives``; in the same
transaction, under the merchant's lock that a consent is given under too).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..merchants import holds
from ..merchants.keys import revoke_consents
from ..policies.model import load
from ..store.engine import Database
from ..store.models import ApiKeyRow, Merchant, MerchantInvitation, MerchantUser, User, table_of
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .role_names import OWNER
from .roles import gives, parse_role

__all__ = [
    "Member",
    "Membership",
    "change_role",
    "end_given",
    "members",
    "memberships",
    "remove",
]

_U = table_of(User)
_MU = table_of(MerchantUser)
_M = table_of(Merchant)
_MI = table_of(MerchantInvitation)
_K = table_of(ApiKeyRow)


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    email: str
    role: str
    joined_at: datetime
    pending: bool  # invited, no password set yet, or an invitation not accepted yet


@dataclass(frozen=True, slots=True)
class Membership:
    merchant_id: str
    merchant_name: str
    role: str


async def memberships(db: Database, user_id: str) -> Outcome:
    """The merchants ``user_id`` acts for (``Membership``), and their role at each, by name."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(_M.c.id, _M.c.name, _MU.c.role)
            .join(_M, _M.c.id == _MU.c.merchant_id)
            .where(_MU.c.user_id == user_id)
            .order_by(_M.c.name, _M.c.id)
        )
        return Outcome(Code.SUCCESS, [Membership(r.id, r.name, r.role) for r in rows])


async def members(db: Database, merchant_id: str) -> Outcome:
    """The merchant's people (``Member``): members first (oldest first), then the invitations
    waiting to be accepted."""
    async with db.read() as conn:
        joined = await conn.execute(
            select(_U.c.id, _U.c.email, _MU.c.role, _MU.c.created_at, _U.c.password_hash)
            .join(_U, _U.c.id == _MU.c.user_id)
            .where(_MU.c.merchant_id == merchant_id)
            .order_by(_MU.c.created_at, _U.c.email)
        )
        found = [
            Member(r.id, r.email, r.role, r.created_at, r.password_hash is None) for r in joined
        ]
        waiting = await conn.execute(
            select(_U.c.id, _U.c.email, _MI.c.role, _MI.c.created_at)
            .join(_U, _U.c.id == _MI.c.user_id)
            .where(_MI.c.merchant_id == merchant_id)
            .order_by(_MI.c.created_at, _U.c.email)
        )
        found += [Member(r.id, r.email, r.role, r.created_at, True) for r in waiting]
    return Outcome(Code.SUCCESS, found)


async def _locked_role(conn: AsyncConnection, merchant_id: str, user_id: str) -> str:
    """Lock the merchant (so owner counts hold until commit); the member's role, else 404."""
    await conn.execute(select(_M.c.id).where(_M.c.id == merchant_id).with_for_update())
    role = (
        await conn.execute(
            select(_MU.c.role).where(_MU.c.merchant_id == merchant_id, _MU.c.user_id == user_id)
        )
    ).scalar_one_or_none()
    if role is None:
        raise ApiError(Code.MEMBER_NOT_FOUND)
    return str(role)


async def _keep_an_owner(conn: AsyncConnection, merchant_id: str) -> None:
    owners = (
        await conn.execute(
            select(func.count())
            .select_from(_MU)
            .where(_MU.c.merchant_id == merchant_id, _MU.c.role == OWNER)
        )
    ).scalar_one()
    if owners <= 1:
        raise ApiError(Code.LAST_OWNER)


async def end_given(
    conn: AsyncConnection, merchant_id: str, user_id: str, role: str | None, now: datetime
) -> None:
    """Revoke what ``user_id`` gave on ``merchant_id`` that ``role`` could not give now
    (``roles.gives``; ``None``: they left, so all of it): the consents they gave apps, with
    every token and the key each one's app made, and the keys they made on the dashboard
    (``api_keys.granted_by``; a key made by the CLI, the operator or another key has no giver
    and is not touched). Ended, never narrowed: the app or the key's holder is refused from its
    next request and asks again, rather than acting on less than it was given."""
    given = await conn.execute(
        select(_K.c.id, _K.c.env, _K.c.policy, _K.c.app_id).where(
            _K.c.merchant_id == merchant_id,
            _K.c.granted_by == user_id,
            _K.c.revoked_at.is_(None),
        )
    )
    ended = [
        (row.id, row.app_id is not None)
        for row in given
        if role is None
        or not gives(role, row.env, load(row.policy), consent=row.app_id is not None)
    ]
    consents = [key_id for key_id, consent in ended if consent]
    if consents:
        await revoke_consents(conn, _K.c.id.in_(consents), now)
    keys = [key_id for key_id, consent in ended if not consent]
    if keys:
        await holds.close(conn, select(_K.c.id).where(_K.c.id.in_(keys)), now)
        await conn.execute(
            update(_K).where(_K.c.id.in_(keys), _K.c.revoked_at.is_(None)).values(revoked_at=now)
        )


async def change_role(db: Database, merchant_id: str, user_id: str, role: str) -> Outcome:
    """Give a member ``role``; ``ROLE_INVALID``, ``MEMBER_NOT_FOUND`` or ``LAST_OWNER``."""
    new = parse_role(role)
    if new is None:
        raise ApiError(Code.ROLE_INVALID)
    async with db.transaction() as conn:
        current = await _locked_role(conn, merchant_id, user_id)
        if current == OWNER and new != OWNER:
            await _keep_an_owner(conn, merchant_id)
        await conn.execute(
            update(_MU)
            .where(_MU.c.merchant_id == merchant_id, _MU.c.user_id == user_id)
            .values(role=new)
        )
        await end_given(conn, merchant_id, user_id, new, utcnow())
    return Outcome(Code.SUCCESS)


async def remove(db: Database, merchant_id: str, user_id: str) -> Outcome:
    """Take a member (or a waiting invitation) off the merchant; never its last owner."""
    async with db.transaction() as conn:
        withdrawn = await conn.execute(
            delete(_MI)
            .where(_MI.c.merchant_id == merchant_id, _MI.c.user_id == user_id)
            .returning(_MI.c.user_id)
        )
        if withdrawn.first() is not None:
            return Outcome(Code.DELETED)
        if await _locked_role(conn, merchant_id, user_id) == OWNER:
            await _keep_an_owner(conn, merchant_id)
        await conn.execute(
            delete(_MU).where(_MU.c.merchant_id == merchant_id, _MU.c.user_id == user_id)
        )
        await end_given(conn, merchant_id, user_id, None, utcnow())
    return Outcome(Code.DELETED)
