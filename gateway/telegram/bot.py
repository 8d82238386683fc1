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

Everything the bot posts is in the words of the member it is for (``reading_of``: their own
language, else their merchant's, else English, as their approval mail is): a held post and its
buttons in its approver's, an answer to a press or a message in those of the member that
Telegram user linked in that chat. A stranger, who is nobody's member, is answered in the
language its Telegram app says (``language_code``), else English.

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
from ..store.models import (
    Merchant,
    MerchantUser,
    TelegramChat,
    TelegramLinkCode,
    User,
    table_of,
)
from ..values.clock import new_id, utcnow
from ..values.code_names import Code
from ..values.languages import ENGLISH, Catalogues, Reading, choose, money_in
from ..values.marking import marked
from ..values.model import Model
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
    "reading_of",
]

_C = table_of(TelegramChat)
_K = table_of(TelegramLinkCode)
_MER = table_of(Merchant)
_MU = table_of(MerchantUser)
_P = table_of(User)

APPROVE, DENY = "a:", "d:"
_CODE_PREFIX = "tgl_"
_MAX_TEXT = 4096
_NOT_LINKED = marked(
    "This chat is not linked to a merchant. An owner links it from the dashboard's approvals "
    "page: send /start with the code it shows."
)
_UNKNOWN_CODE = marked(
    "That code is unknown, used already or expired: ask the dashboard for a new one."
)
_LINKED = marked(
    "Linked to %(name)s: sends held for your approval will come here. /balance shows its wallets."
)
_APPROVE, _DENY = marked("Approve"), marked("Deny")
_APPROVED = marked("Approved: delivered.")  # a send's (``Hold.approved_words``)
# What a press is answered, by its verdict (an approval's own words are its hold's).
_VERDICTS = {
    "denied": marked("Denied: refunded."),
    "nothing": marked(
        "This button decides nothing: used, expired, decided elsewhere, or not yours."
    ),
    "frozen": marked(
        "The environment is frozen: nothing was approved. This button still works once it is "
        "unfrozen, until the hold expires."
    ),
}
# A decision that left its row in a status it need not name, then that status.
_AND_STATUS = marked("%(words)s (%(status)s).")
# A language tag Telegram's app sends is short; read no more of one than this.
_TAG_CAP = 35


class _Loose(Model):
    """The fields of an update the bot reads; the rest of what Telegram sends is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Sender(_Loose):
    """Who sent an update (Telegram's ``User``)."""

    id: int
    language_code: str | None = None  # the app's language (IETF), for a stranger's answer

    def language(self) -> str | None:
        return choose(header=self.language_code[:_TAG_CAP]) if self.language_code else None


class Chat(_Loose):
    id: int


class Message(_Loose):
    message_id: int
    chat: Chat
    from_: Sender | None = Field(default=None, alias="from")
    text: str | None = Field(default=None, max_length=_MAX_TEXT)


class CallbackQuery(_Loose):
    id: str = Field(max_length=100)
    from_: Sender = Field(alias="from")
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


def buttons(token: str, reading: Reading = ENGLISH) -> dict[str, Any]:
    """The Approve and Deny buttons of a held send's message (``reply_markup``), in
    ``reading``'s words."""
    return {
        "inline_keyboard": [
            [
                {"text": reading.gettext(_APPROVE), "callback_data": APPROVE + token},
                {"text": reading.gettext(_DENY), "callback_data": DENY + token},
            ]
        ]
    }


async def reading_of(
    conn: AsyncConnection, catalogues: Catalogues, merchant_id: str, user_id: str
) -> Reading:
    """The language the bot speaks to ``user_id`` of ``merchant_id`` in: their own setting,
    else the merchant's, else English (``values.languages.choose``), as their approval mail."""
    person = await conn.execute(select(_P.c.language).where(_P.c.id == user_id))
    merchant = await conn.execute(select(_MER.c.language).where(_MER.c.id == merchant_id))
    chosen = choose(person=person.scalar_one_or_none(), merchant=merchant.scalar_one_or_none())
    return catalogues.reading(chosen)


async def _reading_in(
    conn: AsyncConnection, catalogues: Catalogues, chat_id: int, sender: Sender
) -> Reading:
    """The words to answer ``sender`` in ``chat_id`` in: those of the member they linked
    there (the first, if several), else, for a stranger, their app's language."""
    linked = (
        await conn.execute(
            select(_C.c.merchant_id, _C.c.user_id)
            .where(_C.c.chat_id == chat_id, _C.c.telegram_user_id == sender.id)
            .order_by(_C.c.created_at, _C.c.id)
            .limit(1)
        )
    ).first()
    if linked is None:
        return catalogues.reading(sender.language() or choose())
    return await reading_of(conn, catalogues, linked.merchant_id, linked.user_id)


def pressed(data: str | None) -> tuple[bool, str] | None:
    """A button's decision (approve?) and token, or ``None`` for data no button of ours has."""
    if data is None:
        return None
    for prefix, approve in ((APPROVE, True), (DENY, False)):
        if data.startswith(prefix):
            return approve, data[len(prefix) :]
    return None


async def on_message(
    db: Database, sealer: Sealer, message: Message, catalogues: Catalogues | None = None
) -> Outcome:
    """A text message: ``/start <code>`` links the chat (``/start`` without a valid code is
    told how), ``/balance`` answers the balance to a linked user; anything else, and a
    stranger's ``/balance``, is answered nothing. Answered in the words of the member the
    sender linked in the chat (``reading_of``; ``catalogues``: every language's, none: read
    once). The calls to wake for."""
    text = (message.text or "").strip()
    sender = message.from_
    if sender is None or not text.startswith(("/start", "/balance")):
        return Outcome(Code.SUCCESS)
    catalogues = catalogues or Catalogues.load()
    now = utcnow()
    async with db.transaction() as conn:
        reply: str | None
        if text.startswith("/start"):
            code = text[6:].strip()
            reply = await _link(conn, sealer, catalogues, message.chat.id, sender, code, now)
        else:
            reply = await _balance(conn, catalogues, message.chat.id, sender)
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
    conn: AsyncConnection,
    sealer: Sealer,
    catalogues: Catalogues,
    chat_id: int,
    sender: Sender,
    code: str,
    now: datetime,
) -> str:
    if not code.startswith(_CODE_PREFIX) or len(code) > 100:
        return (await _reading_in(conn, catalogues, chat_id, sender)).gettext(_NOT_LINKED)
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
        return (await _reading_in(conn, catalogues, chat_id, sender)).gettext(_UNKNOWN_CODE)
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
                telegram_user_id=sender.id,
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
            .values(telegram_user_id=sender.id)
        )
    name = await _merchant_name(conn, spent.merchant_id)
    reading = await reading_of(conn, catalogues, spent.merchant_id, spent.user_id)
    return reading.gettext(_LINKED) % {"name": name}


async def _merchant_name(conn: AsyncConnection, merchant_id: str) -> str:
    row = (await conn.execute(select(_MER).where(_MER.c.id == merchant_id))).first()
    if row is None:
        return PRODUCT_NAME
    return str(row.display_name or row.name)


async def _balance(
    conn: AsyncConnection, catalogues: Catalogues, chat_id: int, sender: Sender
) -> str | None:
    """The wallets of the merchants ``sender`` linked in ``chat_id``; ``None`` for a stranger."""
    merchants = (
        await conn.execute(
            select(_C.c.merchant_id)
            .join(_MU, (_MU.c.merchant_id == _C.c.merchant_id) & (_MU.c.user_id == _C.c.user_id))
            .where(_C.c.chat_id == chat_id, _C.c.telegram_user_id == sender.id)
            .distinct()
            .order_by(_C.c.merchant_id)
            .limit(10)
        )
    ).all()
    if not merchants:
        return None
    reading = await _reading_in(conn, catalogues, chat_id, sender)
    lines = []
    for row in merchants:
        shown = []
        for env in ("live", "staging"):
            wallet = await ledger.balance(conn, env, ledger.merchant_owner(row.merchant_id))
            if wallet is not None:
                amount = money_in(wallet.balance_cents, reading.language)
                shown.append(f"{reading.gettext(env)} {amount}")
        listed = reading.gettext(marked("%(name)s: %(wallets)s")) % {
            "name": await _merchant_name(conn, row.merchant_id),
            "wallets": reading.gettext(marked(", ")).join(shown),
        }
        lines.append(listed)
    return "\n".join(lines)


async def held_posts(
    conn: AsyncConnection,
    sealer: Sealer,
    merchant_id: str,
    chat_ids: list[int],
    token_for: Callable[[], Awaitable[str]],
    text: str,
    now: datetime,
    reading: Reading = ENGLISH,
) -> list[str]:
    """A held send's message, with buttons of their own, to each of ``chat_ids``;
    ``token_for()``: a fresh decision token; ``text`` and the buttons in ``reading``'s words
    (its approver's, ``reading_of``). The calls to wake for."""
    written = []
    for chat_id in chat_ids:
        token = await token_for()
        written.append(
            await calls.write(
                conn,
                sealer,
                merchant_id=merchant_id,
                method="sendMessage",
                params={"chat_id": chat_id, "text": text, "reply_markup": buttons(token, reading)},
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
    catalogues: Catalogues | None = None,
) -> Outcome:
    """Answer a press (``answerCallbackQuery``) and, when it decided, say so in its message in
    place of the buttons (``editMessageText``); ``approved``: what an approval of its kind of
    hold says (``Hold.approved_words``), ``decided``: the statuses it need not name
    (``Hold.decided``). In the words of the member the presser linked in the chat
    (``reading_of``). The calls to wake for."""
    catalogues = catalogues or Catalogues.load()
    now = utcnow()
    done = verdict in ("approved", "denied")
    async with db.transaction() as conn:
        chat_id = press.message.chat.id if press.message is not None else None
        reading = (
            catalogues.reading(press.from_.language() or choose())
            if chat_id is None
            else await _reading_in(conn, catalogues, chat_id, press.from_)
        )
        said = (approved or _APPROVED) if verdict == "approved" else _VERDICTS[verdict]
        words = reading.gettext(said)
        if done and status is not None and status not in decided:
            words = reading.gettext(_AND_STATUS) % {
                "words": words.rstrip(".。"),
                "status": reading.gettext(status.replace("_", " ")),
            }
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
