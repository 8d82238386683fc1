"""Users: sign-up, password check, invitation and the one-time password-set link.

E-mail addresses are kept in one canonical form (``fields.canonical_email``: NFKC, case-folded,
validated), so ``Ada@Example.com`` and ``ada@example.com`` are one account. A merchant is made by
``merchants.service.create_merchant`` (which funds its staging wallet); this module only adds the
people who act for it.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..merchants import service as merchants
from ..merchants.names import check_name
from ..store.engine import Database
from ..store.models import (
    Merchant,
    MerchantInvitation,
    MerchantUser,
    PasswordReset,
    User,
    table_of,
)
from ..values.clock import new_id, utcnow
from ..values.code_names import Code
from ..values.languages import DEFAULT, known
from ..values.marking import marked
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import sessions
from .fields import AccountError, canonical_email, check_new_password
from .passwords import MAX_LENGTH, HashSlots, hash_password, slot_of, verify_password
from .roles import parse_role

__all__ = [
    "INVITE_TTL",
    "Invitation",
    "PendingInvitation",
    "UserInfo",
    "accept_invitation",
    "change_password",
    "check_password",
    "invitation",
    "invite",
    "invitee",
    "pending_invitations",
    "set_language",
    "set_password",
    "sign_in",
    "sign_up",
]

_U = table_of(User)
_MU = table_of(MerchantUser)
_M = table_of(Merchant)
_MI = table_of(MerchantInvitation)
_R = table_of(PasswordReset)

INVITE_TTL = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    email: str
    merchant_id: str
    merchant_name: str


@dataclass(frozen=True, slots=True)
class Invitation:
    user_id: str
    email: str
    merchant_id: str
    # The one-time token of the password-set link; None when the user already has a password.
    token: str | None
    expires_at: datetime | None
    # The user has an account: nothing is granted until they accept, signed in.
    pending: bool = False
    # What they join (or joined, or are invited) as: a member's or a waiting invitation's role
    # stays as it was; an owner changes it on the Members page.
    role: str = "owner"
    # The one-time token of a waiting invitation's link (``pending``): only whoever reads the
    # invited address should hold it, and accepting needs it.
    accept_token: str | None = None


@dataclass(frozen=True, slots=True)
class PendingInvitation:
    merchant_id: str
    merchant_name: str
    created_at: datetime
    role: str


async def _void_links(conn: AsyncConnection, user_id: str, now: datetime) -> None:
    """A new password voids every link that could still set one: the account's unused reset
    links and an invitation's password-set link. An older link, mailed or seen, is worth
    nothing once the password it would replace has changed."""
    await conn.execute(
        update(_R).where(_R.c.user_id == user_id, _R.c.used_at.is_(None)).values(used_at=now)
    )
    await conn.execute(
        update(_U)
        .where(_U.c.id == user_id, _U.c.setup_token_hash.is_not(None))
        .values(setup_token_hash=None, setup_expires_at=None)
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _first_membership(conn: AsyncConnection, user_id: str) -> tuple[str, str] | None:
    """The merchant (id, name) a user acts for: the first they joined."""
    row = (
        await conn.execute(
            select(_MU.c.merchant_id, _M.c.name)
            .join(_M, _M.c.id == _MU.c.merchant_id)
            .where(_MU.c.user_id == user_id)
            .order_by(_MU.c.created_at, _MU.c.merchant_id)
            .limit(1)
        )
    ).first()
    return None if row is None else (row.merchant_id, row.name)


async def sign_up(
    db: Database,
    settings: Settings,
    *,
    email: str,
    password: str,
    merchant_name: str,
    language: str | None = None,
) -> Outcome:
    """A new merchant (staging wallet funded) and its first user, the owner, in one
    transaction; nothing made if the address has an account. Both answer ``SIGNED_UP`` alike,
    and the password is hashed either way, so sign-up tells nobody which addresses have
    accounts. A merchant name is a label: any may be chosen, however many share it.
    ``language``: the one the owner signed up in, which the merchant's recipients read until
    it sets theirs (Settings); English, the default, leaves each reader's browser to choose."""
    email = canonical_email(email)
    try:
        name = check_name(merchant_name)
    except ValueError as refused:
        raise AccountError("merchant_name", str(refused)) from None
    check_new_password(password)
    password_hash = await hash_password(password)
    now = utcnow()
    user_id = new_id("usr")
    try:
        async with db.transaction() as conn:
            if (await conn.execute(select(_U.c.id).where(_U.c.email == email))).first():
                return Outcome(Code.SIGNED_UP)
            merchant = await merchants.create_merchant(
                conn,
                db,
                name=name,
                low_balance_threshold_cents=settings.default_low_balance_threshold_cents,
                staging_initial_balance_cents=settings.staging_initial_balance_cents,
                now=now,
                language=None if language == DEFAULT else known(language),
            )
            await conn.execute(
                insert(_U).values(
                    id=user_id, email=email, password_hash=password_hash, created_at=now
                )
            )
            await conn.execute(
                insert(_MU).values(
                    merchant_id=merchant.id, user_id=user_id, role="owner", created_at=now
                )
            )
    except IntegrityError:  # a concurrent sign-up took the address first
        pass
    return Outcome(Code.SIGNED_UP)


async def check_password(db: Database, email: str, password: str) -> UserInfo | None:
    """The user whose address and password these are, or ``None`` (no such user, no password
    set yet, no merchant, or a wrong password), in about the same time either way."""
    try:
        email = canonical_email(email)
    except AccountError:
        email = ""
    async with db.read() as conn:
        row = (
            await conn.execute(select(_U.c.id, _U.c.password_hash).where(_U.c.email == email))
        ).first()
        membership = None if row is None else await _first_membership(conn, row.id)
    stored = None if row is None else row.password_hash
    if not await verify_password(stored, password[:MAX_LENGTH]) or row is None:
        return None
    if membership is None:
        return None
    return UserInfo(row.id, email, *membership)


async def sign_in(db: Database, email: str, password: str, *, ending: str | None = None) -> Outcome:
    """A new session (its id the data, for the cookie alone) for the user whose address and
    password these are, the one ``ending`` names ended: an id known before sign-in is worth
    nothing after it. ``SIGN_IN_FAILED`` otherwise, in about the same time (``check_password``)."""
    user = await check_password(db, email, password)
    if user is None:
        raise ApiError(Code.SIGN_IN_FAILED)
    return await sessions.start(db, user.id, ending=ending)


async def invite(db: Database, *, merchant_id: str, email: str, role: str = "owner") -> Invitation:
    """Invite ``email`` to the merchant. A new address gets a user with a one-time
    password-set token (valid ``INVITE_TTL``; asking again replaces it) and joins at once, as
    does an invited user who has not set a password yet. A user who has a password owns an
    account someone else may not add to a merchant: the invitation waits (``pending``) until
    they accept it, signed in, through the invitation's one-time link (``accept_token``, valid
    ``INVITE_TTL``; asking again replaces it): an account's password proves who holds the
    account, never who reads its address, since sign-up checks no address. ``role`` is what
    they join as (``roles.ROLES``); an operator's invitation makes an owner."""
    if parse_role(role) is None:
        raise AccountError("role", marked("Choose a role: owner, developer or viewer."))
    email = canonical_email(email)
    now = utcnow()
    async with db.transaction() as conn:
        if (await conn.execute(select(_M.c.id).where(_M.c.id == merchant_id))).first() is None:
            raise AccountError("merchant", marked("No such merchant."))
        row = (
            await conn.execute(select(_U.c.id, _U.c.password_hash).where(_U.c.email == email))
        ).first()
        member = None
        if row is not None:
            member = (
                await conn.execute(
                    select(_MU.c.user_id, _MU.c.role).where(
                        _MU.c.user_id == row.id, _MU.c.merchant_id == merchant_id
                    )
                )
            ).first()
        token = secrets.token_urlsafe(32)
        expires = now + INVITE_TTL
        if row is not None and row.password_hash is not None:
            if member is not None:
                return Invitation(row.id, email, merchant_id, None, None, role=str(member.role))
            link = {"token_hash": _token_hash(token), "expires_at": expires}
            waiting = (
                await conn.execute(
                    update(_MI)
                    .where(_MI.c.user_id == row.id, _MI.c.merchant_id == merchant_id)
                    .values(**link)
                    .returning(_MI.c.role)
                )
            ).first()
            joined = role if waiting is None else str(waiting.role)
            if waiting is None:
                await conn.execute(
                    insert(_MI).values(
                        merchant_id=merchant_id, user_id=row.id, created_at=now, role=role, **link
                    )
                )
            return Invitation(
                row.id,
                email,
                merchant_id,
                None,
                expires,
                pending=True,
                role=joined,
                accept_token=token,
            )
        if row is None:
            user_id = new_id("usr")
            await conn.execute(
                insert(_U).values(
                    id=user_id,
                    email=email,
                    password_hash=None,
                    setup_token_hash=_token_hash(token),
                    setup_expires_at=expires,
                    created_at=now,
                )
            )
        else:
            user_id = row.id
            await conn.execute(
                update(_U)
                .where(_U.c.id == user_id)
                .values(setup_token_hash=_token_hash(token), setup_expires_at=expires)
            )
        if member is None:
            await conn.execute(
                insert(_MU).values(
                    merchant_id=merchant_id, user_id=user_id, role=role, created_at=now
                )
            )
    joined = role if member is None else str(member.role)
    return Invitation(user_id, email, merchant_id, token, expires, role=joined)


async def pending_invitations(db: Database, user_id: str) -> Outcome:
    """The invitations waiting for this user to accept them (``PendingInvitation``), oldest
    first."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(_MI.c.merchant_id, _M.c.name, _MI.c.created_at, _MI.c.role)
            .join(_M, _M.c.id == _MI.c.merchant_id)
            .where(_MI.c.user_id == user_id)
            .order_by(_MI.c.created_at, _MI.c.merchant_id)
        )
        found = [PendingInvitation(r.merchant_id, r.name, r.created_at, r.role) for r in rows]
    return Outcome(Code.SUCCESS, found)


def _by_link(user_id: str, merchant_id: str, token: str) -> list[Any]:
    """This user's invitation to the merchant whose link ``token`` is, while it works."""
    return [
        _MI.c.user_id == user_id,
        _MI.c.merchant_id == merchant_id,
        _MI.c.token_hash == _token_hash(token[:100]),
        _MI.c.expires_at > utcnow(),
    ]


async def invitation(db: Database, user_id: str, merchant_id: str, token: str) -> Outcome:
    """The invitation (``PendingInvitation``) the link ``token`` opens for this user, for the
    page that asks them to accept it; ``INVITATION_NOT_FOUND`` otherwise."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(_MI.c.merchant_id, _M.c.name, _MI.c.created_at, _MI.c.role)
                .join(_M, _M.c.id == _MI.c.merchant_id)
                .where(*_by_link(user_id, merchant_id, token))
            )
        ).first()
    if row is None:
        raise ApiError(Code.INVITATION_NOT_FOUND)
    return Outcome(
        Code.SUCCESS, PendingInvitation(row.merchant_id, row.name, row.created_at, row.role)
    )


async def accept_invitation(db: Database, user_id: str, merchant_id: str, token: str) -> Outcome:
    """Spend this user's invitation to the merchant through its link's ``token``: they become a
    member, in the invitation's role. ``INVITATION_NOT_FOUND`` if there is none for this user
    and token (never made, another's, expired, replaced, or accepted already); the delete is
    the condition, so it works once."""
    async with db.transaction() as conn:
        spent = (
            await conn.execute(
                delete(_MI).where(*_by_link(user_id, merchant_id, token)).returning(_MI.c.role)
            )
        ).first()
        if spent is None:
            raise ApiError(Code.INVITATION_NOT_FOUND)
        member = await conn.execute(
            select(_MU.c.user_id).where(_MU.c.user_id == user_id, _MU.c.merchant_id == merchant_id)
        )
        if member.first() is None:
            await conn.execute(
                insert(_MU).values(
                    merchant_id=merchant_id, user_id=user_id, role=spent.role, created_at=utcnow()
                )
            )
    return Outcome(Code.SUCCESS)


async def invitee(db: Database, token: str) -> Outcome:
    """The e-mail address a live password-set token belongs to (the data), else
    ``ACCOUNT_LINK_INVALID``."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(_U.c.email).where(
                    _U.c.setup_token_hash == _token_hash(token), _U.c.setup_expires_at > utcnow()
                )
            )
        ).first()
    if row is None:
        raise ApiError(Code.ACCOUNT_LINK_INVALID)
    return Outcome(Code.SUCCESS, str(row.email))


async def set_password(
    db: Database, token: str, password: str, hashes: HashSlots | None = None
) -> Outcome:
    """Spend a password-set token: the password is set and the token gone, in one conditional
    UPDATE (a token works once); the user (``UserInfo``) is the data. ``ACCOUNT_LINK_INVALID``
    if the token is unknown, used or expired, or (nothing changed, the token left unspent) the
    user is no longer a member of any merchant. The token is looked up before the password is
    hashed (in one of ``hashes``' slots), so a forged link costs no hash."""
    check_new_password(password)
    if not token or len(token) > 100:
        raise ApiError(Code.ACCOUNT_LINK_INVALID)
    digest = _token_hash(token)
    async with db.read() as conn:
        live = (
            await conn.execute(
                select(_U.c.id).where(
                    _U.c.setup_token_hash == digest, _U.c.setup_expires_at > utcnow()
                )
            )
        ).first()
    if live is None:
        raise ApiError(Code.ACCOUNT_LINK_INVALID)
    with slot_of(hashes):
        password_hash = await hash_password(password)
    now = utcnow()
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                update(_U)
                .where(_U.c.setup_token_hash == digest, _U.c.setup_expires_at > now)
                .values(password_hash=password_hash, setup_token_hash=None, setup_expires_at=None)
                .returning(_U.c.id, _U.c.email)
            )
        ).first()
        if row is None:
            raise ApiError(Code.ACCOUNT_LINK_INVALID)
        membership = await _first_membership(conn, row.id)
        if membership is None:  # no merchant to sign in to: refused, the token left unspent
            raise ApiError(Code.ACCOUNT_LINK_INVALID)
        await _void_links(conn, row.id, now)
    return Outcome(Code.SUCCESS, UserInfo(row.id, row.email, *membership))


async def change_password(
    db: Database, user_id: str, current: str, new: str, *, keeping: str | None = None
) -> Outcome:
    """Replace the user's password when ``current`` is right, end every other session of the
    user (but the one whose hash is ``keeping``) and void every link that could still set a
    password (``_void_links``): a stolen session or link should not outlive it.
    ``PASSWORD_INCORRECT``, nothing changed, when it is not right. The write is conditional on
    the hash it checked, so of two changes racing from the same current password exactly one
    wins."""
    check_new_password(new)
    async with db.read() as conn:
        stored = (
            await conn.execute(select(_U.c.password_hash).where(_U.c.id == user_id))
        ).scalar_one_or_none()
    if stored is None or not await verify_password(stored, current[:MAX_LENGTH]):
        raise ApiError(Code.PASSWORD_INCORRECT)
    new_hash = await hash_password(new)
    async with db.transaction() as conn:
        changed = await conn.execute(
            update(_U)
            .where(_U.c.id == user_id, _U.c.password_hash == stored)
            .values(password_hash=new_hash)
        )
        if changed.rowcount != 1:
            raise ApiError(Code.PASSWORD_INCORRECT)
        await sessions.end_every(conn, user_id, keeping=keeping)
        await _void_links(conn, user_id, utcnow())
    return Outcome(Code.SUCCESS)


async def set_language(db: Database, user_id: str, language: str | None) -> Outcome:
    """The language the user reads the dashboard in (``values.languages``); ``None`` (or an
    empty choice) goes back to the browser's. ``LANGUAGE_UNKNOWN``, nothing changed, for any
    other value."""
    chosen = known(language) if language else None
    if language and chosen is None:
        raise ApiError(Code.LANGUAGE_UNKNOWN)
    async with db.transaction() as conn:
        await conn.execute(update(_U).where(_U.c.id == user_id).values(language=chosen))
    return Outcome(Code.SUCCESS, chosen)
