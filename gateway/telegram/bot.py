"""What the bot does with an update, and what it posts.

- **Linking a chat**: a member who may decide top-ups asks the dashboard for a one-time code
  (``link_code``: random, kept as its keyed hash, ``AITOPUP_TELEGRAM_LINK_CODE_TTL_SECONDS``)
  and sends the bot ``/start <code>``; spending it (one conditional UPDATE) links that chat and
  that Telegram user to the member on that merchant (``telegram_chats``).
- **Held sends and payments** (``held_posts``): each linked chat of each approver gets what is
  held (a send, a payment to a seller) with Approve
  and Deny buttons, whose callback data is ``a:``/``d:`` and a decision token of its own
  (``approvals.links``: stored as its keyed hash, single use, ending with the hold, issued for
  this door alone), within the API's 64 bytes. A press decides only if the Telegram user
  pressing is the one linked to that approver on that merchant (``approvals.links.ready``); a
  press by anyone else, or a replayed one, decides nothing and is answered so, and one refused
  while the environment is frozen leaves its button working.
- **/balance**: the merchant's wallets, to a linked user (still its member) in a linked chat.
- **balance.low**, **balance.recovered**: each linked chat is told of its merchant's crossings
  (``alerts``).

A stranger (a chat or user linked to no merchant) is answered only when it sends ``/start``
(how to link, or that its code is unknown), at most as often as the webhook's count per chat and
per user admits an update (``api.telegram``); any other message of theirs, and a ``/balance``,
writes nothing. Every answer is a call written to the outbox (``calls``), never a request the
update waits on.
"""

import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from .. import outbox
from ..ledger import service as ledger
from ..merchants.names import PRODUCT_NAME
from ..store.engine import Database
from ..store.models import Merchant, MerchantUser, TelegramChat, TelegramLinkCode, table_of
from ..values.clock import new_id, utcnow
from ..values.code_names import Code
from ..values.model import Model
from ..values.money import money
from ..values.outcome import Outcome
from . import calls

__all__ = [
    "APPROVE",
    "DENY",
    "CallbackQuery",
    "Chat",
    "LinkCode",
    "Message",
    "Update",
    "answer_press",
    "buttons",
    "chats_of",
    "held_posts",
    "is_linked_approver",
    "link_code",
    "linked_chats",
    "on_message",
    "pressed",
]

_C = table_of(TelegramChat)
_K = table_of(TelegramLinkCode)
_MER = table_of(Merchant)
_MU = table_of(MerchantUser)

APPROVE, DENY = "a:", "d:"
_CODE_PREFIX = "tgl_"
_MAX_TEXT = 4096
_NOT_LINKED = (
    "This chat is not linked to a merchant. An owner links it from the dashboard's approvals "
    "page: send /start with the code it shows."
)


class _Loose(Model):
    """The fields of an update the bot reads; the rest of what Telegram sends is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Loose):
    id: int


class Chat(_Loose):
    id: int


class Message(_Loose):
    message_id: int
    chat: Chat
    from_: User | None = Field(default=None, alias="from")
    text: str | None = Field(default=None, max_length=_MAX_TEXT)


class CallbackQuery(_Loose):
    id: str = Field(max_length=100)
    from_: User = Field(alias="from")
    message: Message | None = None
    data: str | None = Field(default=None, max_length=64)


class Update(_Loose):
    update_id: int
    message: Message | None = None
    callback_query: CallbackQuery | None = None


async def link_code(
    db: Database, sealer: Sealer, merchant_id: str, user_id: str, ttl_seconds: int
) -> Outcome:
    """A one-time code that links the chat it is sent from to ``user_id`` on ``merchant_id``;
    the data, with when it stops working (``LinkCode``)."""
    code = _CODE_PREFIX + secrets.token_urlsafe(12)
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    async with db.transaction() as conn:
        await conn.execute(
            _K.insert().values(
                code_hash=sealer.lookup(code),
                merchant_id=merchant_id,
                user_id=user_id,
                expires_at=expires,
                created_at=now,
            )
        )
    return Outcome(Code.SUCCESS, LinkCode(code, expires))


@dataclass(frozen=True, slots=True)
class LinkCode:
    code: str
    expires_at: datetime


async def linked_chats(conn: AsyncConnection, merchant_id: str, user_id: str) -> list[int]:
    """The chats ``user_id`` linked on ``merchant_id``."""
    found = await conn.execute(
        select(_C.c.chat_id).where(_C.c.merchant_id == merchant_id, _C.c.user_id == user_id)
    )
    return [int(r.chat_id) for r in found]


async def chats_of(db: Database, merchant_id: str, user_id: str) -> Outcome:
    """The chats ``user_id`` linked on ``merchant_id`` (the data: their ids), for a page."""
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, await linked_chats(conn, merchant_id, user_id))


def is_linked_approver(merchant_id: Any, user_id: Any, telegram_user_id: int) -> Any:
    """Whether ``telegram_user_id`` is the Telegram user linked to ``user_id`` on
    ``merchant_id`` (SQL, for ``approvals.links.ready``)."""
    return (
        select(_C.c.id)
        .where(
            _C.c.merchant_id == merchant_id,
            _C.c.user_id == user_id,
            _C.c.telegram_user_id == telegram_user_id,
        )
        .correlate_except(_C)
        .exists()
    )


def buttons(token: str) -> dict[str, Any]:
    """The Approve and Deny buttons of a held send's message (``reply_markup``)."""
    return {
        "inline_keyboard": [
            [
                {"text": "Approve", "callback_data": APPROVE + token},
                {"text": "Deny", "callback_data": DENY + token},
            ]
        ]
    }


def pressed(data: str | None) -> tuple[bool, str] | None:
    """A button's decision (approve?) and token, or ``None`` for data no button of ours has."""
    if data is None:
        return None
    for prefix, approve in ((APPROVE, True), (DENY, False)):
        if data.startswith(prefix):
            return approve, data[len(prefix) :]
    return None


async def on_message(db: Database, sealer: Sealer, message: Message) -> Outcome:
    """A text message: ``/start <code>`` links the chat (``/start`` without a valid code is
    told how), ``/balance`` answers the balance to a linked user; anything else, and a
    stranger's ``/balance``, is answered nothing. The calls to wake for."""
    text = (message.text or "").strip()
    sender = message.from_.id if message.from_ is not None else None
    if sender is None or not text.startswith(("/start", "/balance")):
        return Outcome(Code.SUCCESS)
    now = utcnow()
    async with db.transaction() as conn:
        reply: str | None
        if text.startswith("/start"):
            reply = await _link(conn, sealer, message.chat.id, sender, text[6:].strip(), now)
        else:
            reply = await _balance(conn, message.chat.id, sender)
        if reply is None:
            return Outcome(Code.SUCCESS)
        call = await calls.write(
            conn,
            sealer,
            merchant_id=None,
            method="sendMessage",
            params={"chat_id": message.chat.id, "text": reply},
            now=now,
        )
    return Outcome(Code.SUCCESS, None, deliveries=[call])


async def _link(
    conn: AsyncConnection, sealer: Sealer, chat_id: int, sender: int, code: str, now: datetime
) -> str:
    if not code.startswith(_CODE_PREFIX) or len(code) > 100:
        return _NOT_LINKED
    spent = (
        await conn.execute(
            update(_K)
            .where(
                _K.c.code_hash == sealer.lookup(code), _K.c.used_at.is_(None), _K.c.expires_at > now
            )
            .values(used_at=now)
            .returning(_K.c.merchant_id, _K.c.user_id)
        )
    ).first()
    if spent is None:
        return "That code is unknown, used already or expired: ask the dashboard for a new one."
    known = await conn.execute(
        select(_C.c.id).where(
            _C.c.merchant_id == spent.merchant_id,
            _C.c.user_id == spent.user_id,
            _C.c.chat_id == chat_id,
        )
    )
    if known.first() is None:
        await conn.execute(
            _C.insert().values(
                id=new_id("tgc"),
                merchant_id=spent.merchant_id,
                user_id=spent.user_id,
                chat_id=chat_id,
                telegram_user_id=sender,
                alerted_through=outbox.new_event_id(),  # alerts from now on
                created_at=now,
            )
        )
    else:
        await conn.execute(
            update(_C)
            .where(
                _C.c.merchant_id == spent.merchant_id,
                _C.c.user_id == spent.user_id,
                _C.c.chat_id == chat_id,
            )
            .values(telegram_user_id=sender)
        )
    name = await _merchant_name(conn, spent.merchant_id)
    return (
        f"Linked to {name}: sends held for your approval will come here. "
        "/balance shows its wallets."
    )


async def _merchant_name(conn: AsyncConnection, merchant_id: str) -> str:
    row = (await conn.execute(select(_MER).where(_MER.c.id == merchant_id))).first()
    if row is None:
        return PRODUCT_NAME
    return str(row.display_name or row.name)


async def _balance(conn: AsyncConnection, chat_id: int, sender: int) -> str | None:
    """The wallets of the merchants ``sender`` linked in ``chat_id``; ``None`` for a stranger."""
    merchants = (
        await conn.execute(
            select(_C.c.merchant_id)
            .join(_MU, (_MU.c.merchant_id == _C.c.merchant_id) & (_MU.c.user_id == _C.c.user_id))
            .where(_C.c.chat_id == chat_id, _C.c.telegram_user_id == sender)
            .distinct()
            .order_by(_C.c.merchant_id)
            .limit(10)
        )
    ).all()
    if not merchants:
        return None
    lines = []
    for row in merchants:
        shown = []
        for env in ("live", "staging"):
            wallet = await ledger.balance(conn, env, ledger.merchant_owner(row.merchant_id))
            if wallet is not None:
                shown.append(f"{env} {money(wallet.balance_cents)}")
        lines.append(f"{await _merchant_name(conn, row.merchant_id)}: {', '.join(shown)}")
    return "\n".join(lines)


async def held_posts(
    conn: AsyncConnection,
    sealer: Sealer,
    merchant_id: str,
    chat_ids: list[int],
    token_for: Callable[[], Awaitable[str]],
    text: str,
    now: datetime,
) -> list[str]:
    """A held send's message, with buttons of their own, to each of ``chat_ids``;
    ``token_for()``: a fresh decision token. The calls to wake for."""
    written = []
    for chat_id in chat_ids:
        token = await token_for()
        written.append(
            await calls.write(
                conn,
                sealer,
                merchant_id=merchant_id,
                method="sendMessage",
                params={"chat_id": chat_id, "text": text, "reply_markup": buttons(token)},
                now=now,
            )
        )
    return written


Verdict = Literal["approved", "denied", "nothing", "frozen"]


async def answer_press(
    db: Database,
    sealer: Sealer,
    press: CallbackQuery,
    verdict: Verdict,
    status: str | None,
    *,
    approved: str | None = None,
    decided: Collection[str] = ("delivered", "denied"),
) -> Outcome:
    """Answer a press (``answerCallbackQuery``) and, when it decided, say so in its message in
    place of the buttons (``editMessageText``); ``approved``: what an approval of its kind of
    hold says (``Hold.approved_words``), ``decided``: the statuses it need not name
    (``Hold.decided``). The calls to wake for."""
    now = utcnow()
    words = {
        "approved": approved or "Approved: delivered.",
        "denied": "Denied: refunded.",
        "nothing": "This button decides nothing: used, expired, decided elsewhere, or not yours.",
        "frozen": "The environment is frozen: nothing was approved. This button still works "
        "once it is unfrozen, until the hold expires.",
    }[verdict]
    done = verdict in ("approved", "denied")
    if done and status is not None and status not in decided:
        words = f"{words[:-1]} ({status.replace('_', ' ')})."
    async with db.transaction() as conn:
        written = [
            await calls.write(
                conn,
                sealer,
                merchant_id=None,
                method="answerCallbackQuery",
                params={"callback_query_id": press.id, "text": words},
                now=now,
            )
        ]
        if done and press.message is not None:
            written.append(
                await calls.write(
                    conn,
                    sealer,
                    merchant_id=None,
                    method="editMessageText",
                    params={
                        "chat_id": press.message.chat.id,
                        "message_id": press.message.message_id,
                        "text": words,
                    },
                    now=now,
                )
            )
    return Outcome(Code.SUCCESS, None, deliveries=written)
