"""Approvals where people are: a held send's one-time decision links, mailed to its approvers
and posted to their linked Telegram chats as buttons (``telegram.bot``).

When a send is held (``approvals``), each member of its merchant whose role may decide top-ups
there (``accounts.roles``: ``topups``) gets a mail with a link of their own (``offer``), up to
``MAX_APPROVERS``, within the merchant's hourly cap on approval mails (``mail.caps``: past it,
or when it cannot be counted, the mails are written held and the send waits in the dashboard's
inbox). The link's token is a bearer credential: random, and stored only as its
keyed digest (``Sealer.lookup``, under the server's key), so neither the store nor a copy of it
makes a link, and an altered token finds nothing. The mail row holds it sealed, as a password
reset's does.

A token decides only through the door it was issued for (``door``): ``MAIL``, the e-mailed
link's confirmation page, or ``TELEGRAM``, a button's press by the Telegram user linked to its
approver. A button's token carried to the page (anyone in a group chat reads a button's data) is
refused (``APPROVAL_TOKEN_WRONG_DOOR``) and decides nothing.

A link opens a confirmation page (``review``: a GET decides nothing, so a mail scanner or a
link preview that fetches it changes nothing) and decides on a POST: ``ready`` checks it (live,
at its door, its approver still allowed) and hands the decision the step that spends it
(``Ready.spend``), run inside the decision's own transaction (``approvals.approve``/``deny`` through
``doors.approve``/``deny``). So a link is spent only by the decision it makes: one refused (the
environment frozen, the send decided or expired meanwhile) leaves it as it was, and a frozen
environment's link decides once unfrozen. The spend is one conditional UPDATE that marks it used
while it is unused, unexpired, its send still held and its approver still a member allowed to
decide, so of twenty clicks at once exactly one goes on, made as the link's approver (``decided_by``
``user:<id>``). A link ends with its hold (``approval_expires_at``), and with the send's decision by
any door.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..accounts import roles
from ..callers import Caller
from ..mail import caps
from ..mail import rows as mail
from ..mail.content import expires_text
from ..redis_client import Redis
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
from ..values.settings import Settings
from . import approvals
from .service import HELD

__all__ = [
    "MAIL",
    "MAX_APPROVERS",
    "TELEGRAM",
    "TOKEN_LENGTH",
    "Approver",
    "Ready",
    "approvers",
    "issue",
    "offer",
    "ready",
    "review",
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
# The doors a token is issued for, and decides through only.
MAIL, TELEGRAM = "mail", "telegram"


def token_digest(sealer: Sealer, token: str) -> str:
    """What the store keeps of a token: its keyed digest, never the token."""
    return sealer.lookup(token)


def _roles_deciding(env: str) -> list[str]:
    return [role for role in roles.ROLES if roles.allows(role, "topups", env)]


@dataclass(frozen=True, slots=True)
class Ready:
    """A live link checked at its door: who decides (the approver as the dashboard's caller),
    what, and the step that spends the link inside the decision's transaction."""

    caller: Caller
    txn_id: str
    spend: approvals.Spend


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
    door: str,
    expires: datetime,
    now: datetime,
) -> str:
    """A fresh decision token on ``txn_id`` for ``user_id`` that decides through ``door``
    alone, stored as its digest."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        _L.insert().values(
            token_hash=token_digest(sealer, token),
            topup_id=txn_id,
            user_id=user_id,
            door=door,
            expires_at=expires,
            created_at=now,
        )
    )
    return token


async def offer(
    db: Database,
    sealer: Sealer,
    redis: Redis,
    settings: Settings,
    txn_id: str,
    *,
    now: datetime | None = None,
) -> Outcome:
    """Mail each approver of the held send ``txn_id`` a link of their own (held past the
    merchant's cap on approval mails, ``caps.approvals_gate``), and post it with buttons of
    their own to each Telegram chat they linked (``telegram.bot``); the rows to wake for
    (staging's mail lands in the staging mailbox). Nothing if the send is no longer held."""
    now = now or utcnow()
    work: list[str] = []
    async with db.read() as conn:
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
        people = await approvers(conn, row.merchant_id, row.env)
    # Counted before the transaction, as the voucher mails' caps are: a Redis slow to answer
    # holds no writer's lock of the store.
    gate = caps.OFF
    if people:
        gate = await caps.approvals_gate(redis, settings, row.merchant_id, row.env, len(people))
    # The last mails the hour lets through say that the next held sends wait unmailed.
    last = gate.remaining is not None and gate.remaining < len(people)
    text = (
        f"Held for your approval ({row.env}): {money(row.amount_cents)} of "
        f"{name_of(row.platform)} credit to {row.recipient_email}, sent by the key "
        f"{row.key_name or '(unnamed)'} "
        f"{row.display_prefix or ''}, top-up {row.id}. The hold expires "
        f"{expires_text(row.approval_expires_at)}."
    )
    async with db.transaction() as conn:
        still = await conn.execute(select(_T.c.id).where(_T.c.id == txn_id, _T.c.status == HELD))
        if still.first() is None:  # decided meanwhile; a count taken stays (one too many)
            return Outcome(Code.SUCCESS, [])
        for person in people:

            async def token_for(user_id: str = person.user_id) -> str:
                expires = row.approval_expires_at
                return await issue(conn, sealer, row.id, user_id, TELEGRAM, expires, now)

            chats = await bot.linked_chats(conn, row.merchant_id, person.user_id)
            work += await bot.held_posts(conn, sealer, row.merchant_id, chats, token_for, text, now)
            token = await issue(
                conn, sealer, row.id, person.user_id, MAIL, row.approval_expires_at, now
            )
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
                    "last_this_hour": last,
                },
                now=now,
                held=gate.held,
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


def _door(telegram_user_id: int | None) -> str:
    return MAIL if telegram_user_id is None else TELEGRAM


def _merchant_of_link() -> Any:
    return select(_T.c.merchant_id).where(_T.c.id == _L.c.topup_id).correlate(_L).scalar_subquery()


def _pressed_by(telegram_user_id: int | None) -> Any:
    """A press counts only by the Telegram user linked to the link's approver."""
    if telegram_user_id is None:
        return true()
    return bot.is_linked_approver(_merchant_of_link(), _L.c.user_id, telegram_user_id)


async def _checked(
    conn: AsyncConnection, digest: str, now: datetime, telegram_user_id: int | None
) -> tuple[str, Caller]:
    """The held send the live link ``digest`` decides and its approver as the caller, at the
    door ``telegram_user_id`` says (a press by that Telegram user, else the mailed link's
    page); ``APPROVAL_LINK_INVALID`` for a link unknown, used, expired, no longer held, or a
    press by anyone but the approver's linked Telegram user, ``APPROVAL_TOKEN_WRONG_DOOR`` for
    a live one issued for the other door."""
    live = and_(_live(digest, now), _pressed_by(telegram_user_id))
    link = (await conn.execute(select(_L.c.user_id, _L.c.topup_id, _L.c.door).where(live))).first()
    if link is None:
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    if link.door != _door(telegram_user_id):
        raise ApiError(Code.APPROVAL_TOKEN_WRONG_DOOR)
    return str(link.topup_id), await _caller(conn, link.user_id, link.topup_id)


async def review(db: Database, sealer: Sealer, token: str) -> Outcome:
    """What a live mailed link's page shows (``approvals.Review``: the send, its key, why it
    was held), read as its approver; ``APPROVAL_LINK_INVALID`` for a link unknown, used or
    expired, or whose send is no longer held, ``APPROVAL_TOKEN_WRONG_DOOR`` for a button's.
    Changes nothing."""
    if not _well_formed(token):
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    async with db.read() as conn:
        txn_id, caller = await _checked(conn, token_digest(sealer, token), utcnow(), None)
    return await approvals.review(db, sealer, caller, txn_id)


async def ready(
    db: Database, sealer: Sealer, token: str, *, telegram_user_id: int | None = None
) -> Outcome:
    """The link ``token`` checked at its door (``_checked``; ``telegram_user_id``: a press of
    a Telegram button by that user, else the mailed link's form), unspent: the approver's
    caller, the held send's id and the step that spends it in the decision's transaction
    (``Ready``). The step spends it while it is still live at that door and its approver
    still a member allowed to decide, else raises ``APPROVAL_LINK_INVALID`` and the decision
    rolls back: of concurrent decisions with one link exactly one spends it."""
    if not _well_formed(token):
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    digest = token_digest(sealer, token)
    async with db.read() as conn:
        txn_id, caller = await _checked(conn, digest, utcnow(), telegram_user_id)
    door = _door(telegram_user_id)
    deciding = _roles_deciding(caller.env)

    async def spend(conn: AsyncConnection, now: datetime) -> None:
        live = and_(
            _live(digest, now),
            _L.c.door == door,
            _pressed_by(telegram_user_id),
            exists(
                select(_MU.c.user_id).where(
                    _MU.c.merchant_id == _merchant_of_link(),
                    _MU.c.user_id == _L.c.user_id,
                    _MU.c.role.in_(deciding),
                )
            ),
        )
        spent = await conn.execute(
            update(_L).where(live).values(used_at=now).returning(_L.c.token_hash)
        )
        if spent.first() is None:
            raise ApiError(Code.APPROVAL_LINK_INVALID)

    return Outcome(Code.SUCCESS, Ready(caller, txn_id, spend))
