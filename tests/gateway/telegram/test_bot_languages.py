"""Everything the bot posts is in the words of the member it is for, as their approval mail is:
their own language, else their merchant's, else English (``telegram.bot.reading_of``). Against
the Bot API's stand-in on 127.0.0.1: the linking, a held send's and a held payment's posts and
their buttons, a press refused, a denial and an approval, /balance, each with the amounts as
that language writes them and no English left; a stranger is answered in its app's language."""

import json
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.merchants import preferences
from gateway.store.engine import Database
from gateway.store.models import TelegramChat, TelegramMessage, User, table_of
from gateway.telegram import bot
from gateway.values.languages import Catalogues, money_in
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, asgi_client
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.held_payments import HOLDING
from tests.fixtures.languages import latin_left, untranslated
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import pay
from tests.fixtures.tally_payer import TallyPayer
from tests.fixtures.telegram import (
    BotApi,
    bot_settings,
    linked_member,
    post_update,
    said,
    update_of_message,
    update_of_press,
)
from tests.fixtures.workers import StartWorker

STRANGER = 9980001
SEALER = Sealer(TEST_SECRET.encode())
_C, _G, _U = table_of(TelegramChat), table_of(TelegramMessage), table_of(User)
HELD = {"scopes": ["topup:send", "topup:read", "payments:send"], "approval_above_cents": 10}
SEND = {"platform": "claude", "amount_cents": 900, "recipient_email": "r@ex.com"}
# Each language's words: the linking, a held post, its buttons, a refused press, a denial, a
# payment's approval, a stranger's /start.
WORDS = {
    "en": (
        "Linked to",
        "Held for your approval",
        ("Approve", "Deny"),
        "This button decides nothing",
        "Denied: refunded.",
        "Approved: paid.",
        "This chat is not linked",
    ),
    "zh": (
        "已关联到",
        "等待您审批",
        ("批准", "拒绝"),
        "此按钮不做任何决定",
        "已拒绝：已退款。",  # noqa: RUF001 (Chinese punctuation)
        "已批准：已付款。",  # noqa: RUF001 (Chinese punctuation)
        "此聊天未关联到任何商户",
    ),
    "ja": (
        "に連携しました",
        "あなたの承認を待っています",
        ("承認", "拒否"),
        "このボタンは何も決定しません",
        "拒否しました：返金しました。",  # noqa: RUF001 (Japanese punctuation)
        "承認しました：支払いました。",  # noqa: RUF001 (Japanese punctuation)
        "このチャットはどのマーチャントにも連携されていません",
    ),
}


def _read_in(text: str, language: str, *names: str) -> None:
    """No English left in ``text`` in Chinese or Japanese, beside ``names`` (data: a merchant's
    name, a platform's, a key's)."""
    if language == "en":
        return
    for name in names:
        text = text.replace(name, " ")
    assert not untranslated(text, language), (text, untranslated(text, language))
    assert not latin_left(text), (text, latin_left(text))


@pytest.mark.parametrize(
    ("person", "merchant", "language"),
    [("en", "zh", "en"), ("zh", "en", "zh"), ("ja", "zh", "ja"), (None, "ja", "ja")],
)
async def test_the_bot_speaks_to_each_member_in_their_language(
    bot_app: ASGIApp,
    db: Database,
    telegram: BotApi,
    start_worker: StartWorker,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    person: str | None,
    merchant: str,
    language: str,
) -> None:
    linked, held, buttons, nothing, denied, paid, stranger = WORDS[language]
    # A chat and a Telegram user of this test's own: the store outlives it.
    chat, ann = 5_000_000 + uuid.uuid4().int % 10**6, 7_000_000 + uuid.uuid4().int % 10**6
    await start_worker(**bot_settings(telegram))
    owner = await sign_up_on(dashboard_client(bot_app))
    user = await users.check_password(db, owner.email, owner.password)
    assert user is not None
    await users.set_language(db, user.id, person)
    await preferences.set_recipients_language(db, user.merchant_id, merchant)
    agent = await make_merchant("staging", balance_cents=50_000, merchant_id=user.merchant_id)
    await set_policy(db, agent.key_id, {**HOLDING, **HELD})
    made = await owner.post("/telegram/code", {}, page="/telegram")
    code = re.search(r"/start (tgl_[\w-]+)", made.text)
    assert code is not None
    data = (owner.merchant_name, "Claude", "agent", "Tally")
    # This test's calls of the Bot API: its worker also sends the posts other tests left in the
    # store (another merchant's balance alert, in English), to their own chats.
    pressed: set[str] = set()

    def mine(params: dict[str, Any]) -> bool:
        to_us = params.get("chat_id") in (chat, chat + 1)
        return to_us or params.get("callback_query_id") in pressed

    def press_of(message: dict[str, Any], callback: str) -> dict[str, Any]:
        update = update_of_press(message, ann, callback)
        pressed.add(update["callback_query"]["id"])
        return update

    async with asgi_client(bot_app) as api:
        start = update_of_message(chat, ann, f"/start {code.group(1)}")
        assert (await post_update(api, start)).is_success
        [reply] = await said(telegram, "sendMessage", 1, mine)
        assert linked in reply["text"] and owner.merchant_name in reply["text"], reply["text"]
        _read_in(reply["text"], language, *data)

        # A held send and a held payment come in the approver's words, buttons too.
        sent = await api.post("/topup/send", json=SEND, headers=agent.headers)
        assert sent.status_code == 202, sent.text
        send_post = (await said(telegram, "sendMessage", 2, mine))[-1]
        paid_reply = await pay(api, agent, f"tg-{language}-{person}")
        assert paid_reply.status_code == 202, paid_reply.text
        payment_post = (await said(telegram, "sendMessage", 3, mine))[-1]
        assert sent.json()["transaction_id"] in send_post["text"]
        assert paid_reply.json()["transaction_id"] in payment_post["text"]
        assert money_in(900, language) in send_post["text"], send_post["text"]
        assert money_in(25, language) in payment_post["text"], payment_post["text"]
        for post in (send_post, payment_post):
            assert held in post["text"], post["text"]
            [[approve, deny]] = post["reply_markup"]["inline_keyboard"]
            assert (approve["text"], deny["text"]) == buttons
            _read_in(post["text"], language, *data)
        message = {"message_id": 100, "chat": {"id": chat, "type": "private"}}

        # A press that decides nothing, a denial and an approval: answered in their words.
        [[approve_send, deny_send]] = send_post["reply_markup"]["inline_keyboard"]
        wrong = press_of(message, "a:" + approve_send["callback_data"][2:] + "x")
        assert (await post_update(api, wrong)).is_success
        [refused] = await said(telegram, "answerCallbackQuery", 1, mine)
        assert refused["text"].startswith(nothing), refused["text"]
        _read_in(refused["text"], language)
        press = press_of(message, deny_send["callback_data"])
        assert (await post_update(api, press)).is_success
        assert (await said(telegram, "answerCallbackQuery", 2, mine))[-1]["text"] == denied
        [edited] = await said(telegram, "editMessageText", 1, mine)
        assert edited["text"] == denied
        [[approve_payment, _]] = payment_post["reply_markup"]["inline_keyboard"]
        press = press_of(message, approve_payment["callback_data"])
        assert (await post_update(api, press)).is_success
        assert (await said(telegram, "answerCallbackQuery", 3, mine))[-1]["text"] == paid

        # /balance, the amount as the language writes it (the payment of $0.25 paid from it).
        assert (await post_update(api, update_of_message(chat, ann, "/balance"))).is_success
        balance = (await said(telegram, "sendMessage", 4, mine))[-1]["text"]
        assert owner.merchant_name in balance and money_in(49_975, language) in balance, balance
        _read_in(balance, language, *data)

        # A stranger is nobody's member: answered in its app's language.
        hello = update_of_message(chat + 1, STRANGER, "/start")
        hello["message"]["from"]["language_code"] = {"en": "en", "zh": "zh-hans", "ja": "ja"}[
            language
        ]
        assert (await post_update(api, hello)).is_success
        told = (await said(telegram, "sendMessage", 5, mine))[-1]
        assert told["chat_id"] == chat + 1 and stranger in told["text"], told["text"]
        _read_in(told["text"], language)


@pytest.mark.parametrize("language", ["zh", "ja"])
async def test_a_frozen_press_and_an_approval_left_pending_are_answered_in_the_members_words(
    db: Database, make_merchant: MakeMerchant, language: str
) -> None:
    key = await make_merchant()
    chat = 6_200_000 + uuid.uuid4().int % 100_000
    await linked_member(db, key.merchant_id, chat, language)
    message = {"message_id": 1, "chat": {"id": chat, "type": "private"}}
    press = bot.CallbackQuery.model_validate(
        update_of_press(message, chat, "a:x")["callback_query"]
    )
    texts = []
    verdicts: list[tuple[bot.Verdict, str | None]] = [("frozen", None), ("approved", "pending")]
    for verdict, status in verdicts:
        answered = await bot.answer_press(db, SEALER, press, verdict, status)
        texts += [str(p["text"]) for p in await _written(db, answered.deliveries)]
    frozen, approved, edited = texts
    assert approved == edited
    for text in (frozen, approved):
        _read_in(text, language)
    reading = Catalogues.load().reading(language)
    assert approved.startswith(reading.gettext("Approved: delivered.")[:-1]), approved
    assert reading.gettext("pending") in approved, approved


async def _written(db: Database, ids: list[str]) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (await conn.execute(select(_G).where(_G.c.id.in_(ids)).order_by(_G.c.id))).all()
    return [json.loads(SEALER.open(r.call_sealed, context=r.id))["params"] for r in rows]
