"""Approvals where people are: a held send's one-time decision links, mailed to its approvers
and posted to their linked Telegram chats as buttons (``telegram.bot``).

When a send is held (``approvals``), each member of its merchant whose role may decide top-ups
there (``accounts.roles``: ``topups``) gets a mail with a link of their own (``offer``), up to
``MAX_APPROVERS``. The link's token is a bearer credential: random, and stored only as its
keyed digest (``Sealer.lookup``, under the server's key), so neither the store nor a copy of it
makes a link, and an altered token finds nothing. The mail row holds it sealed, as a password
reset's does.

A link opens a confirmation page (``review``: a GET decides nothing, so a mail scanner or a
link preview that fetches it changes nothing) and decides on a POST (``spend``): one
conditional UPDATE marks it used while it is unused, unexpired and its send still held, so of
twenty clicks at once exactly one goes on; the decision itself is the dashboard's own
(``approvals.approve``/``deny`` through ``doors.decide``), made as the link's approver
(``decided_by`` ``user:<id>``), whose membership and role are read again at that moment: a
member who left, or lost the role, decides nothing. A link ends with its hold
(``approval_expires_at``), and with the send's decision by any door.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..accounts import roles
from ..callers import Caller
from ..mail import rows as mail
from ..mail.content import expires_text
from ..store.db import Database
from ..store.models import (
    ApiKeyRow,
    ApprovalLink,
    Merchant,
    MerchantUser,
    Topup,
    User,
    Wallet,
    table_of,
)
from ..telegram import bot
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.money import money
from ..values.outcome import ApiError, Outcome
from ..values.platforms import name_of
from . import approvals
from .service import HELD

__all__ = [
    "MAX_APPROVERS",
    "TOKEN_LENGTH",
    "Approver",
    "Spent",
    "approvers",
    "issue",
    "offer",
    "review",
    "spend",
    "token_digest",
]

_L = table_of(ApprovalLink)
_T = table_of(Topup)
_U = table_of(User)
_MU = table_of(MerchantUser)
_M = table_of(Merchant)
_W = table_of(Wallet)
_K = table_of(ApiKeyRow)

# A merchant's owners are few; a bound all the same on the mails one held send writes.
MAX_APPROVERS = 20
TOKEN_PREFIX = "apl_"  # noqa: S105 (what a token starts with, not a secret)
TOKEN_LENGTH = 100  # what a form or a query may carry as a token


def token_digest(sealer: Sealer, token: str) -> str:
    """What the store keeps of a token: its keyed digest, never the token."""
    return sealer.lookup(token)


def _roles_deciding(env: str) -> list[str]:
    return [role for role in roles.ROLES if roles.allows(role, "topups", env)]


@dataclass(frozen=True, slots=True)
class Spent:
    """A link used: who decides (the approver as the dashboard's caller), and what."""

    caller: Caller
    txn_id: str


@dataclass(frozen=True, slots=True)
class Approver:
    user_id: str
    email: str


async def approvers(conn: AsyncConnection, merchant_id: str, env: str) -> list[Approver]:
    """The members of ``merchant_id`` who may decide its top-ups in ``env``, at most
    ``MAX_APPROVERS``."""
    found = await conn.execute(
        select(_U.c.id, _U.c.email)
        .join(_MU, _MU.c.user_id == _U.c.id)
        .where(_MU.c.merchant_id == merchant_id, _MU.c.role.in_(_roles_deciding(env)))
        .order_by(_U.c.email)
        .limit(MAX_APPROVERS)
    )
    return [Approver(r.id, r.email) for r in found]


async def issue(
    conn: AsyncConnection,
    sealer: Sealer,
    txn_id: str,
    user_id: str,
    expires: datetime,
    now: datetime,
) -> str:
    """A fresh decision token on ``txn_id`` for ``user_id``, stored as its digest alone."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        _L.insert().values(
            token_hash=token_digest(sealer, token),
            topup_id=txn_id,
            user_id=user_id,
            expires_at=expires,
            created_at=now,
        )
    )
    return token


async def offer(
    db: Database, sealer: Sealer, txn_id: str, *, now: datetime | None = None
) -> Outcome:
    """Mail each approver of the held send ``txn_id`` a link of their own, and post it with
    buttons of their own to each Telegram chat they linked (``telegram.bot``); the rows to wake
    for (staging's mail lands in the staging mailbox). Nothing if the send is no longer held."""
    now = now or utcnow()
    work: list[str] = []
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                select(_T, _K.c.name.label("key_name"), _K.c.display_prefix)
                .outerjoin(_K, _K.c.id == _T.c.api_key_id)
                .where(_T.c.id == txn_id)
            )
        ).first()
        if row is None or row.status != HELD or row.approval_expires_at is None:
            return Outcome(Code.SUCCESS, [])
        if row.approval_expires_at <= now:
            return Outcome(Code.SUCCESS, [])
        text = (
            f"Held for your approval ({row.env}): {money(row.amount_cents)} of "
            f"{name_of(row.platform)} credit to {row.recipient_email}, sent by the key "
            f"{row.key_name or '(unnamed)'} "
            f"{row.display_prefix or ''}, top-up {row.id}. The hold expires "
            f"{expires_text(row.approval_expires_at)}."
        )
        for person in await approvers(conn, row.merchant_id, row.env):

            async def token_for(user_id: str = person.user_id) -> str:
                return await issue(conn, sealer, row.id, user_id, row.approval_expires_at, now)

            chats = await bot.linked_chats(conn, row.merchant_id, person.user_id)
            work += await bot.held_posts(conn, sealer, row.merchant_id, chats, token_for, text, now)
            token = await token_for()
            queued = await mail.write(
                conn,
                sealer,
                kind=mail.APPROVAL_REQUEST,
                env=row.env,
                merchant_id=row.merchant_id,
                to=person.email,
                data={
                    "token": token,
                    "transaction_id": row.id,
                    "amount": money(row.amount_cents),
                    "recipient": row.recipient_email,
                    "platform": name_of(row.platform),
                    "key": row.key_name or "",
                    "key_prefix": row.display_prefix or "",
                    "env": row.env,
                    "expires": expires_text(row.approval_expires_at),
                },
                now=now,
            )
            if queued is not None:
                work.append(queued)
    return Outcome(Code.SUCCESS, work, deliveries=work)


def _live(digest: str, now: datetime) -> Any:
    """The link ``digest`` names, unused, unexpired, its send still held within its window."""
    return and_(
        _L.c.token_hash == digest,
        _L.c.used_at.is_(None),
        _L.c.expires_at > now,
        exists(
            select(_T.c.id).where(
                _T.c.id == _L.c.topup_id, _T.c.status == HELD, _T.c.approval_expires_at > now
            )
        ),
    )


async def _caller(conn: AsyncConnection, user_id: str, txn_id: str) -> Caller:
    """The approver ``user_id`` acting on ``txn_id``'s merchant as the dashboard would have
    them act, if their membership still lets them decide it; else ``APPROVAL_LINK_INVALID``."""
    found = (
        await conn.execute(
            select(
                _T.c.merchant_id,
                _T.c.env,
                _MU.c.role,
                _W.c.id.label("wallet_id"),
                func.coalesce(
                    _W.c.low_balance_threshold_cents, _M.c.low_balance_threshold_cents
                ).label("threshold"),
            )
            .join(_MU, and_(_MU.c.merchant_id == _T.c.merchant_id, _MU.c.user_id == user_id))
            .join(_M, _M.c.id == _T.c.merchant_id)
            .join(_W, and_(_W.c.env == _T.c.env, _W.c.owner == "m:" + _T.c.merchant_id))
            .where(_T.c.id == txn_id)
        )
    ).first()
    if found is None or not roles.allows(found.role, "topups", found.env):
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    return Caller(
        key_id=roles.user_marker(user_id),
        merchant_id=found.merchant_id,
        env=found.env,
        low_balance_threshold_cents=int(found.threshold),
        wallet_id=found.wallet_id,
        policy=roles.dashboard_policy(found.role, found.env),
        hides_every_code=not roles.reveals_codes(found.role, found.env),
    )


def _well_formed(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= TOKEN_LENGTH


async def review(db: Database, sealer: Sealer, token: str) -> Outcome:
    """What a live link's page shows (``approvals.Review``: the send, its key, why it was held),
    read as its approver; ``APPROVAL_LINK_INVALID`` for a link unknown, used or expired, or
    whose send is no longer held. Changes nothing."""
    if not _well_formed(token):
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    async with db.read() as conn:
        link = (
            await conn.execute(
                select(_L.c.user_id, _L.c.topup_id).where(
                    _live(token_digest(sealer, token), utcnow())
                )
            )
        ).first()
        if link is None:
            raise ApiError(Code.APPROVAL_LINK_INVALID)
        caller = await _caller(conn, link.user_id, link.topup_id)
    return await approvals.review(db, sealer, caller, link.topup_id)


async def spend(
    db: Database, sealer: Sealer, token: str, *, telegram_user_id: int | None = None
) -> Outcome:
    """Use the link ``token`` once: the approver's caller and the held send's id (``Spent``) to
    decide it with, else ``APPROVAL_LINK_INVALID`` and nothing changed. Of concurrent
    spends of one link exactly one gets them. ``telegram_user_id``: a press of a Telegram
    button, which spends it only if that Telegram user is the one linked to the link's
    approver on the send's merchant (anyone else's press leaves it as it was)."""
    if not _well_formed(token):
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    now = utcnow()
    live = _live(token_digest(sealer, token), now)
    if telegram_user_id is not None:
        merchant = (
            select(_T.c.merchant_id).where(_T.c.id == _L.c.topup_id).correlate(_L).scalar_subquery()
        )
        live = and_(live, bot.is_linked_approver(merchant, _L.c.user_id, telegram_user_id))
    async with db.transaction() as conn:
        spent = (
            await conn.execute(
                update(_L).where(live).values(used_at=now).returning(_L.c.user_id, _L.c.topup_id)
            )
        ).first()
        if spent is None:
            raise ApiError(Code.APPROVAL_LINK_INVALID)
        caller = await _caller(conn, spent.user_id, spent.topup_id)
    return Outcome(Code.SUCCESS, Spent(caller, str(spent.topup_id)))
