"""Approvals where people are: one-time decision links on what is held (a send, a payment to a
seller, any kind of hold: ``held``), mailed to its approvers and posted to their linked Telegram
chats as buttons (``telegram.bot``).

When a row is held (a send, ``topup.hold``; a payment, ``sellers.hold``), each
member of its merchant whose role may decide top-ups there (``accounts.roles``: ``topups``)
gets a mail with a link of their own (``offer``), up to ``MAX_APPROVERS``, within the
merchant's hourly cap on approval mails (``mail.caps``: past it, or when it cannot be counted,
the mails are written held and what is held waits in the dashboard's inbox). The link's token
is a bearer credential: random, and stored only as its keyed digest (``Sealer.lookup``, under the
server's key), so neither the store nor a copy of it makes a link, and an altered token finds
nothing. The mail row holds it sealed, as a password
reset's does.

A token decides only through the door it was issued for (``door``): ``MAIL``, the e-mailed
link's confirmation page, or ``TELEGRAM``, a button's press by the Telegram user linked to its
approver. A button's token carried to the page (anyone in a group chat reads a button's data) is
refused (``APPROVAL_TOKEN_WRONG_DOOR``) and decides nothing.

A link opens a confirmation page (``opened``: a GET decides nothing, so a mail scanner or a
link preview that fetches it changes nothing) and decides on a POST: ``ready`` checks it (live,
at its door, its approver still allowed) and hands the decision the step that spends it
(``Ready.spend``), run inside the decision's own transaction (its kind of hold's ``approve``
or ``deny``, through ``holds.doors``). So a link is spent only by the decision it
makes: one refused (the environment frozen, decided or expired meanwhile) leaves it as it was,
and a frozen environment's link decides once unfrozen. The spend is one conditional UPDATE that
marks it used while it is unused, unexpired, what it decides still held and its approver still a
member allowed to decide, so of twenty clicks at once exactly one goes on, made as the link's
approver (``decided_by`` ``user:<id>``). A link ends with its hold (``approval_expires_at``), and
with the decision by any door.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..accounts import role_names, roles
from ..callers import Caller
from ..mail import caps
from ..mail import rows as mail
from ..redis_client import Redis
from ..store.engine import Database
from ..store.models import ApprovalLink, Merchant, MerchantUser, User, Wallet, table_of
from ..telegram import bot
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.languages import Catalogues
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .held import HELD, Hold, Spend, describe, held_now

__all__ = [
    "MAIL",
    "MAX_APPROVERS",
    "TELEGRAM",
    "TOKEN_LENGTH",
    "Approver",
    "Opened",
    "Ready",
    "approvers",
    "asked",
    "issue",
    "nobody_asked",
    "offer",
    "opened",
    "ready",
    "token_digest",
    "told",
    "unasked",
]

_L = table_of(ApprovalLink)
_U = table_of(User)
_MU = table_of(MerchantUser)
_M = table_of(Merchant)
_W = table_of(Wallet)

# A merchant's owners are few; a bound all the same on the mails one hold writes.
MAX_APPROVERS = 20
TOKEN_PREFIX = "apl_"  # noqa: S105 (what a token starts with, not a secret)
TOKEN_LENGTH = 100  # what a form or a query may carry as a token
# The doors a token is issued for, and decides through only.
MAIL, TELEGRAM = "mail", "telegram"


def token_digest(sealer: Sealer, token: str) -> str:
    """What the store keeps of a token: its keyed digest, never the token."""
    return sealer.lookup(token)


def _roles_deciding(env: str) -> list[str]:
    return [role for role in role_names.ROLES if roles.allows(role, "topups", env)]


@dataclass(frozen=True, slots=True)
class Opened:
    """A live link as its page opens it: who decides (the approver as the dashboard's caller)
    and what (``hold``, ``held_id``)."""

    caller: Caller
    hold: Hold
    held_id: str


@dataclass(frozen=True, slots=True)
class Ready:
    """A live link checked at its door: who decides, what, and the step that spends the link
    inside the decision's transaction."""

    caller: Caller
    hold: Hold
    held_id: str
    spend: Spend


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
    hold: Hold,
    held_id: str,
    user_id: str,
    door: str,
    expires: datetime,
    now: datetime,
) -> str:
    """A fresh decision token on ``held_id`` (of ``hold``) for ``user_id`` that decides through
    ``door`` alone, stored as its digest."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        _L.insert().values(
            held_kind=hold.name,
            held_id=held_id,
            token_hash=token_digest(sealer, token),
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
    hold: Hold,
    held_id: str,
    *,
    now: datetime | None = None,
    catalogues: Catalogues | None = None,
) -> Outcome:
    """Mail each approver of ``held_id`` (held by ``hold``) a link of their own
    (held past the merchant's cap on approval mails, ``caps.approvals_gate``), and post it with
    buttons of their own to each Telegram chat they linked (``telegram.bot``), in their words
    (``bot.reading_of``; ``catalogues``: every language's, none: read once); the rows to wake
    for (staging's mail lands in the staging mailbox), and as ``data`` how many people were
    asked: 0 where the merchant has nobody who may decide it (a merchant made from the command
    line, until one is invited), or where it was no longer held when asked.

    Once a row: the reply that held it and every replay of that reply call this, and only the
    first to lock the held row while nobody was mailed a link of it asks anyone; the others
    answer how many that one asked (``_asked``). So a replay arriving between the hold's commit
    and the first reply's asking asks them itself, and both replies count the same people."""
    now = now or utcnow()
    catalogues = catalogues or Catalogues.load()
    work: list[str] = []
    async with db.read() as conn:
        already = await _asked(conn, hold, held_id)
        if already:
            return Outcome(Code.SUCCESS, already)
        found = await describe(conn, hold, held_id, now)
        if found is None:
            return Outcome(Code.SUCCESS, already)
        people = await approvers(conn, found.merchant_id, found.env)
    # Counted before the transaction, as the voucher mails' caps are: a Redis slow to answer
    # holds no writer's lock of the store.
    gate = caps.OFF
    if people:
        gate = await caps.approvals_gate(redis, settings, found.merchant_id, found.env, len(people))
    # The last mails the hour lets through say that the next holds wait unmailed.
    last = gate.remaining is not None and gate.remaining < len(people)
    async with db.transaction() as conn:
        # The row's lock (PostgreSQL's; SQLite's writer is one at a time) orders the askers: the
        # second reads the first's links once the first has committed.
        still = await conn.execute(
            select(hold.table.c.id)
            .where(hold.table.c.id == held_id, hold.table.c.status == HELD)
            .with_for_update()
        )
        asked_meanwhile = await _asked(conn, hold, held_id)
        # Decided meanwhile, or asked by a replay meanwhile: a count taken stays (one too many).
        if still.first() is None or asked_meanwhile:
            return Outcome(Code.SUCCESS, asked_meanwhile)
        for person in people:

            async def token_for(user_id: str = person.user_id) -> str:
                return await issue(
                    conn, sealer, hold, held_id, user_id, TELEGRAM, found.expires, now
                )

            chats = await bot.linked_chats(conn, found.merchant_id, person.user_id)
            if chats:
                reading = await bot.reading_of(conn, catalogues, found.merchant_id, person.user_id)
                text = found.said(reading)
                work += await bot.held_posts(
                    conn, sealer, found.merchant_id, chats, token_for, text, now, reading
                )
            token = await issue(
                conn, sealer, hold, held_id, person.user_id, MAIL, found.expires, now
            )
            queued = await mail.write(
                conn,
                sealer,
                kind=mail.APPROVAL_REQUEST,
                env=found.env,
                merchant_id=found.merchant_id,
                to=person.email,
                data={**found.mail, "token": token, "last_this_hour": last},
                now=now,
                held=gate.held,
            )
            if queued is not None:
                work.append(queued)
    return Outcome(Code.SUCCESS, len(people), deliveries=work)


def told(hold: Hold, outcome: Outcome, asked: Outcome) -> Outcome:
    """``outcome``, the reply that held a row of ``hold``, saying how many people ``asked``
    (``offer``'s answer) asked to decide it, as its kind's reply says it (``Hold.asked``): a
    hold that asked nobody says so where it is made, not only in an empty mailbox."""
    count = asked.data
    return hold.asked(outcome, count) if isinstance(count, int) else outcome


async def asked(db: Database, hold: Hold, held_id: str) -> Outcome:
    """How many people were asked to decide ``held_id`` (of ``hold``): each was mailed a link
    of their own (``data``, an int; 0 where nobody was), for its pages: what ``offer``
    answered."""
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, await _asked(conn, hold, held_id))


async def _asked(conn: AsyncConnection, hold: Hold, held_id: str) -> int:
    """How many people were mailed a link of their own to decide ``held_id`` (of ``hold``)."""
    found = await conn.execute(
        select(func.count(func.distinct(_L.c.user_id))).where(
            _L.c.held_kind == hold.name, _L.c.held_id == held_id, _L.c.door == MAIL
        )
    )
    return int(found.scalar_one())


async def unasked(db: Database, hold: Hold, held_ids: Sequence[str]) -> Outcome:
    """Which of ``held_ids`` (rows of ``hold``) nobody was asked to decide (``data``, a
    frozenset): the approvals inbox marks each, as its page does."""
    if not held_ids:
        return Outcome(Code.SUCCESS, frozenset())
    async with db.read() as conn:
        found = await conn.execute(
            select(_L.c.held_id)
            .distinct()
            .where(_L.c.held_kind == hold.name, _L.c.held_id.in_(held_ids), _L.c.door == MAIL)
        )
        return Outcome(Code.SUCCESS, frozenset(held_ids) - {row.held_id for row in found})


async def nobody_asked(
    db: Database, holds: Sequence[Hold], merchant_id: str, env: str, *, now: datetime | None = None
) -> Outcome:
    """How many rows of ``holds`` held now in ``merchant_id``'s ``env`` nobody was asked to
    decide (``data``, an int): no approval mail was written for them, so the staging mailbox
    says so beside the mails that were."""
    now = now or utcnow()
    counted = 0
    async with db.read() as conn:
        for hold in holds:
            t = hold.table
            mailed = exists(select(_L.c.token_hash).where(_held_by(hold), _L.c.door == MAIL))
            found = await conn.execute(
                select(func.count())
                .select_from(t)
                .where(t.c.merchant_id == merchant_id, t.c.env == env, held_now(hold, now))
                .where(~mailed)
            )
            counted += int(found.scalar_one())
    return Outcome(Code.SUCCESS, counted)


def _held_by(hold: Hold) -> Any:
    """The link names a row of ``hold`` (SQL)."""
    return (_L.c.held_kind == hold.name) & (hold.table.c.id == _L.c.held_id)


def _live(digest: str, now: datetime, holds: Sequence[Hold]) -> Any:
    """The link ``digest`` names, unused, unexpired, what it decides (a row of one of
    ``holds``) still held within its window."""
    return and_(
        _L.c.token_hash == digest,
        _L.c.used_at.is_(None),
        _L.c.expires_at > now,
        or_(*(exists(select(h.table.c.id).where(_held_by(h), held_now(h, now))) for h in holds)),
    )


async def _caller(conn: AsyncConnection, user_id: str, hold: Hold, held_id: str) -> Caller:
    """The approver ``user_id`` acting on ``held_id``'s merchant as the dashboard would have
    them act, if their membership still lets them decide it; else ``APPROVAL_LINK_INVALID``."""
    t = hold.table
    found = (
        await conn.execute(
            select(
                t.c.merchant_id,
                t.c.env,
                _MU.c.role,
                _W.c.id.label("wallet_id"),
                func.coalesce(
                    _W.c.low_balance_threshold_cents, _M.c.low_balance_threshold_cents
                ).label("threshold"),
            )
            .join(_MU, and_(_MU.c.merchant_id == t.c.merchant_id, _MU.c.user_id == user_id))
            .join(_M, _M.c.id == t.c.merchant_id)
            .join(_W, and_(_W.c.env == t.c.env, _W.c.owner == "m:" + t.c.merchant_id))
            .where(t.c.id == held_id)
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


def _merchant_of_link(holds: Sequence[Hold]) -> Any:
    """The merchant of what the link decides, whichever of ``holds`` it is (SQL)."""
    return func.coalesce(
        *(
            select(h.table.c.merchant_id).where(_held_by(h)).correlate(_L).scalar_subquery()
            for h in holds
        )
    )


def _pressed_by(telegram_user_id: int | None, holds: Sequence[Hold]) -> Any:
    """A press counts only by the Telegram user linked to the link's approver."""
    if telegram_user_id is None:
        return true()
    return bot.is_linked_approver(_merchant_of_link(holds), _L.c.user_id, telegram_user_id)


async def _checked(
    conn: AsyncConnection,
    digest: str,
    now: datetime,
    telegram_user_id: int | None,
    holds: Sequence[Hold],
    person: str | None = None,
) -> Opened:
    """What the live link ``digest`` decides and its approver as the caller, at the
    door ``telegram_user_id`` says (a press by that Telegram user, else the mailed link's
    page); ``APPROVAL_LINK_INVALID`` for a link unknown, used, expired, no longer held, or a
    press by anyone but the approver's linked Telegram user, ``APPROVAL_TOKEN_WRONG_DOOR`` for
    a live one issued for the other door, ``APPROVAL_LINK_NOT_YOURS`` for a mailed link opened
    by a signed-in ``person`` other than the one it was sent to: a link acts only for them."""
    live = and_(_live(digest, now, holds), _pressed_by(telegram_user_id, holds))
    columns = (_L.c.user_id, _L.c.door, _L.c.held_kind, _L.c.held_id)
    link = (await conn.execute(select(*columns).where(live))).first()
    if link is None:
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    if link.door != _door(telegram_user_id):
        raise ApiError(Code.APPROVAL_TOKEN_WRONG_DOOR)
    if person is not None and person != link.user_id:
        raise ApiError(Code.APPROVAL_LINK_NOT_YOURS)
    hold = next(h for h in holds if h.name == link.held_kind)
    return Opened(await _caller(conn, link.user_id, hold, link.held_id), hold, link.held_id)


async def opened(
    db: Database, sealer: Sealer, token: str, holds: Sequence[Hold], *, person: str | None = None
) -> Outcome:
    """What a live mailed link decides (a row of one of ``holds``) and who it decides as
    (``Opened``), for its page to show (``holds.doors.review``); ``APPROVAL_LINK_INVALID``
    for a link unknown, used or expired, or whose hold has ended, ``APPROVAL_TOKEN_WRONG_DOOR``
    for a button's, ``APPROVAL_LINK_NOT_YOURS`` opened by a signed-in ``person`` it was not sent
    to. Changes nothing."""
    if not _well_formed(token):
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    async with db.read() as conn:
        digest = token_digest(sealer, token)
        found = await _checked(conn, digest, utcnow(), None, holds, person)
    return Outcome(Code.SUCCESS, found)


async def ready(
    db: Database,
    sealer: Sealer,
    token: str,
    holds: Sequence[Hold],
    *,
    telegram_user_id: int | None = None,
    person: str | None = None,
) -> Outcome:
    """The link ``token`` (on a row of one of ``holds``) checked at its door (``_checked``;
    ``telegram_user_id``: a press of a Telegram button by that user, else the mailed link's
    form, posted by ``person`` if signed in), unspent: the approver's
    caller, what it decides and the step that spends it in the decision's transaction
    (``Ready``). The step spends it while it is still live at that door and its approver
    still a member allowed to decide, else raises ``APPROVAL_LINK_INVALID`` and the decision
    rolls back: of concurrent decisions with one link exactly one spends it."""
    if not _well_formed(token):
        raise ApiError(Code.APPROVAL_LINK_INVALID)
    digest = token_digest(sealer, token)
    async with db.read() as conn:
        found = await _checked(conn, digest, utcnow(), telegram_user_id, holds, person)
    door = _door(telegram_user_id)
    deciding = _roles_deciding(found.caller.env)

    async def spend(conn: AsyncConnection, now: datetime) -> None:
        live = and_(
            _live(digest, now, holds),
            _L.c.door == door,
            _pressed_by(telegram_user_id, holds),
            exists(
                select(_MU.c.user_id).where(
                    _MU.c.merchant_id == _merchant_of_link(holds),
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

    return Outcome(Code.SUCCESS, Ready(found.caller, found.hold, found.held_id, spend))
