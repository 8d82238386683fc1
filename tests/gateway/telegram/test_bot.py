"""The Telegram bot against a stand-in of the Bot API on 127.0.0.1: setWebhook with its secret,
a chat linked from the dashboard with a one-time code, a held send posted with buttons that
only the linked approver's press decides (once), /balance, and updates without the secret,
from strangers or replayed doing nothing."""

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import Mail, MerchantUser, TelegramMessage, Topup, User, table_of
from gateway.telegram import api as bot_api
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, asgi_client, running_app
from tests.fixtures.dashboard import (
    Account,
    client_from,
    csrf_of,
    dashboard_client,
    join_as,
    sign_up_on,
)
from tests.fixtures.held_payments import HOLDING, held, status_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import SELLER, pay
from tests.fixtures.tally_payer import TallyPayer
from tests.fixtures.telegram import (
    WEBHOOK_SECRET,
    BotApi,
    bot_settings,
    post_update,
    said,
    update_of_message,
    update_of_press,
)
from tests.fixtures.workers import StartWorker

_T, _G, _M = table_of(Topup), table_of(TelegramMessage), table_of(Mail)
_RAW_KEY = re.compile(r"ak_staging_[0-9A-Za-z]{32}")
CHAT, ANN, STRANGER = 5550001, 7770001, 9990001


async def _owner_with_key(app: ASGIApp) -> tuple[Account, str]:
    browser = dashboard_client(app)
    owner = await sign_up_on(browser)
    made = await owner.shown_once(
        "/keys", {"name": "agent", "scopes": "topup:send", "approval_above": "5"}, page="/keys"
    )
    found = _RAW_KEY.search(made.text)
    assert found is not None
    return owner, found.group()


async def _held(api: httpx.AsyncClient, key: str, cents: int) -> str:
    sent = await api.post(
        "/topup/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"platform": "gemini", "amount_cents": cents, "recipient_email": "t@example.com"},
    )
    assert sent.status_code == 202 and sent.json()["status"] == "pending_approval", sent.text
    txn: str = sent.json()["transaction_id"]
    return txn


async def _status(db: Database, txn: str) -> tuple[str, str | None]:
    async with db.read() as conn:
        row = (await conn.execute(select(_T.c.status, _T.c.decided_by).where(_T.c.id == txn))).one()
    return row.status, row.decided_by


async def test_set_webhook_gives_telegram_the_url_and_the_secret(
    settings: Settings, telegram: BotApi
) -> None:
    await bot_api.set_webhook(
        settings.model_copy(update=bot_settings(telegram)), "https://pay.example"
    )
    [call] = telegram.of("setWebhook")
    assert call["url"] == "https://pay.example/api/public/v1/telegram/webhook"
    assert call["secret_token"] == WEBHOOK_SECRET
    assert call["allowed_updates"] == ["message", "callback_query"]
    wrong = settings.model_copy(
        update={**bot_settings(telegram), "telegram_bot_token": SecretStr("1:not-the-token")}
    )
    with pytest.raises(bot_api.BotApiError) as refused:
        await bot_api.set_webhook(wrong, "https://pay.example")
    assert "not-the-token" not in str(refused.value)


async def test_a_linked_approver_decides_in_telegram_and_nobody_else_does(
    bot_app: ASGIApp,
    db: Database,
    telegram: BotApi,
    start_worker: StartWorker,
    settings: Settings,
) -> None:
    await start_worker(**bot_settings(telegram))
    owner, key = await _owner_with_key(bot_app)
    # The dashboard gives the person a one-time code to send the bot.
    made = await owner.post("/telegram/code", {}, page="/telegram")
    assert made.status_code == 200, made.text
    code = re.search(r"/start (tgl_[\w-]+)", made.text)
    assert code is not None
    async with asgi_client(bot_app) as api:
        # Without the secret, or with another, an update does nothing.
        start = update_of_message(CHAT, ANN, f"/start {code.group(1)}")
        assert (await post_update(api, start, secret=None)).status_code == 401
        refused = await post_update(api, start, secret=WEBHOOK_SECRET + "x")
        assert refused.status_code == 401 and refused.json()["code"] == 2341
        assert (
            await api.post(
                "/telegram/webhook",
                content=b"{",
                headers={
                    "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
                    "Content-Type": "application/json",
                },
            )
        ).status_code == 400
        assert (await post_update(api, start)).status_code == 200
        [linked] = await said(telegram, "sendMessage", 1)
        assert linked["chat_id"] == CHAT and linked["text"].startswith("Linked to")
        # The code worked once: a stranger sending it again links nothing.
        await post_update(api, update_of_message(CHAT + 1, STRANGER, f"/start {code.group(1)}"))
        again = (await said(telegram, "sendMessage", 2))[-1]
        assert again["chat_id"] == CHAT + 1 and "unknown, used already" in again["text"]
        page = await owner.client.get("/telegram")
        assert f"<code>{CHAT}</code>" in page.text and f"<code>{CHAT + 1}</code>" not in page.text

        # A held send comes to the linked chat with its buttons.
        txn = await _held(api, key, 700)
        post = (await said(telegram, "sendMessage", 3))[-1]
        assert post["chat_id"] == CHAT and "$7.00" in post["text"] and txn in post["text"]
        [[approve, deny]] = post["reply_markup"]["inline_keyboard"]
        assert approve["text"] == "Approve" and approve["callback_data"].startswith("a:apl_")
        assert deny["callback_data"] == "d:" + approve["callback_data"][2:]
        assert all(len(b["callback_data"].encode()) <= 64 for b in (approve, deny))
        sent = {"message_id": 100 + len(telegram.calls), "chat": {"id": CHAT, "type": "private"}}

        # A stranger's press decides nothing, nor does one without the secret.
        press = update_of_press(sent, STRANGER, approve["callback_data"])
        assert (await post_update(api, press, secret=None)).status_code == 401
        assert (await post_update(api, press)).status_code == 200
        [nothing] = await said(telegram, "answerCallbackQuery", 1)
        assert "decides nothing" in nothing["text"]
        assert await _status(db, txn) == ("pending_approval", None)

        # The linked approver's press decides, as them; a replay of it does nothing more.
        mine = update_of_press(sent, ANN, deny["callback_data"])
        assert (await post_update(api, mine)).status_code == 200
        answered = (await said(telegram, "answerCallbackQuery", 2))[-1]
        assert answered["text"].startswith("Denied")
        [edited] = await said(telegram, "editMessageText", 1)
        assert edited["chat_id"] == CHAT and edited["message_id"] == sent["message_id"]
        status, decided_by = await _status(db, txn)
        assert status == "denied" and decided_by is not None and decided_by.startswith("user:")
        assert (await post_update(api, mine)).status_code == 200
        assert (
            await post_update(api, update_of_press(sent, ANN, approve["callback_data"]))
        ).status_code == 200
        replies = await said(telegram, "answerCallbackQuery", 4)
        assert all("decides nothing" in r["text"] for r in replies[-2:])
        assert (await _status(db, txn))[0] == "denied"

        # Another held send, approved from Telegram.
        second = await _held(api, key, 800)
        post = (await said(telegram, "sendMessage", 4))[-1]
        [[approve, _]] = post["reply_markup"]["inline_keyboard"]
        await post_update(api, update_of_press(sent, ANN, approve["callback_data"]))
        assert (await said(telegram, "answerCallbackQuery", 5))[-1]["text"].startswith("Approved")
        assert (await _status(db, second))[0] == "delivered"

        # /balance answers the linked approver, and nobody else: a stranger is answered nothing.
        await post_update(api, update_of_message(CHAT, ANN, "/balance"))
        balance = (await said(telegram, "sendMessage", 5))[-1]
        assert owner.merchant_name in balance["text"] and "staging $" in balance["text"]
        before = await _calls_written(db)
        assert (await post_update(api, update_of_message(CHAT, STRANGER, "/balance"))).is_success
        assert (await post_update(api, update_of_message(CHAT + 2, STRANGER, "hi"))).is_success
        assert await _calls_written(db) == before
        # /start without a code is told how to link.
        await post_update(api, update_of_message(CHAT + 2, STRANGER, "/start"))
        how = (await said(telegram, "sendMessage", 6))[-1]
        assert how["chat_id"] == CHAT + 2 and "not linked" in how["text"]


async def test_only_an_approver_makes_a_link_code(bot_app: ASGIApp) -> None:
    owner, _ = await _owner_with_key(bot_app)
    viewer = await join_as(bot_app, owner, "viewer")
    page = await viewer.client.get("/telegram")
    assert page.status_code == 200 and "Only a member who may decide" in page.text
    refused = await viewer.post("/telegram/code", {}, page="/telegram")
    assert refused.status_code == 403 and "/start tgl_" not in refused.text


async def _linked_with_a_held_post(
    app: ASGIApp, telegram: BotApi, api: httpx.AsyncClient
) -> tuple[Account, str, str, dict[str, Any]]:
    """An owner's chat linked (``CHAT``, ``ANN``) and a held send posted to it: the owner, the
    send, its Approve button's data and the message it came in."""
    owner, key = await _owner_with_key(app)
    made = await owner.post("/telegram/code", {}, page="/telegram")
    code = re.search(r"/start (tgl_[\w-]+)", made.text)
    assert code is not None
    assert (
        await post_update(api, update_of_message(CHAT, ANN, f"/start {code.group(1)}"))
    ).is_success
    await said(telegram, "sendMessage", 1)
    txn = await _held(api, key, 700)
    post = (await said(telegram, "sendMessage", 2))[-1]
    [[approve, _]] = post["reply_markup"]["inline_keyboard"]
    sent = {"message_id": 100, "chat": {"id": CHAT, "type": "group"}}
    return owner, txn, str(approve["callback_data"]), sent


async def _mailed_token(db: Database, txn: str) -> str:
    """The token of the approval mail of ``txn``, opened from its sealed row."""
    sealer = Sealer(TEST_SECRET.encode())
    async with db.read() as conn:
        rows = (await conn.execute(select(_M).where(_M.c.kind == "approval_request"))).all()
    for row in rows:
        data = json.loads(sealer.open(row.data_sealed, context=row.id))
        if data.get("transaction_id") == txn:  # a held payment's mail names its payment
            return str(data["token"])
    raise AssertionError(f"no approval mail for {txn}")


async def _calls_written(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(_G))).scalar_one())


async def test_a_buttons_token_decides_nothing_on_the_mailed_links_page(
    bot_app: ASGIApp, db: Database, telegram: BotApi, start_worker: StartWorker
) -> None:
    """Anyone in a group chat reads a button's data: its token, carried to the e-mailed link's
    page, is refused there (4563) and decides nothing; the button itself still decides, for its
    approver alone."""
    await start_worker(**bot_settings(telegram))
    async with asgi_client(bot_app) as api:
        _, txn, data, sent = await _linked_with_a_held_post(bot_app, telegram, api)
        token = data.removeprefix("a:")
        async with client_from(bot_app, f"203.0.113.{uuid.uuid4().int % 250 + 1}") as browser:
            shown = await browser.get("/approval", params={"token": token})
            assert shown.status_code == 403 and 'data-code="4563"' in shown.text
            assert "$7.00" not in shown.text
            csrf = csrf_of((await browser.get("/sign-in")).text)
            for decision in ("approve", "deny"):
                posted = await browser.post(
                    "/approval", data={"csrf_token": csrf, "token": token, "decision": decision}
                )
                assert posted.status_code == 403 and 'id="link-door"' in posted.text
        assert await _status(db, txn) == ("pending_approval", None)
        # Nor does the mailed link's token in a press, the approver's own.
        mailed = "a:" + await _mailed_token(db, txn)
        assert (await post_update(api, update_of_press(sent, ANN, mailed))).is_success
        [nothing] = await said(telegram, "answerCallbackQuery", 1)
        assert "decides nothing" in nothing["text"]
        # The stranger who read it is refused by the bot as before; the approver's press decides.
        assert (await post_update(api, update_of_press(sent, STRANGER, data))).is_success
        assert "decides nothing" in (await said(telegram, "answerCallbackQuery", 2))[-1]["text"]
        assert await _status(db, txn) == ("pending_approval", None)
        # Twenty presses of the approver at once: one decides.
        presses = [update_of_press(sent, ANN, data) for _ in range(20)]
        replies = await asyncio.gather(*(post_update(api, p) for p in presses))
        assert {r.status_code for r in replies} == {200}
        answers = [a["text"] for a in (await said(telegram, "answerCallbackQuery", 22))[2:]]
        assert sum(a.startswith("Approved") for a in answers) == 1
        assert sum("decides nothing" in a for a in answers) == 19
    status, decided_by = await _status(db, txn)
    assert status == "delivered" and decided_by is not None and decided_by.startswith("user:")


async def test_a_press_while_frozen_is_refused_and_its_button_decides_once_unfrozen(
    bot_app: ASGIApp, db: Database, telegram: BotApi, start_worker: StartWorker
) -> None:
    await start_worker(**bot_settings(telegram))
    async with asgi_client(bot_app) as api:
        owner, txn, data, sent = await _linked_with_a_held_post(bot_app, telegram, api)
        frozen = await owner.post("/freeze", {"held": "keep"}, page="/freeze")
        assert frozen.status_code == 303
        assert (await post_update(api, update_of_press(sent, ANN, data))).is_success
        [answer] = await said(telegram, "answerCallbackQuery", 1)
        assert answer["text"].startswith("The environment is frozen")
        assert telegram.of("editMessageText") == []
        assert await _status(db, txn) == ("pending_approval", None)
        thawed = await owner.post("/freeze/off", {}, page="/freeze")
        assert thawed.status_code == 303
        assert (await post_update(api, update_of_press(sent, ANN, data))).is_success
        assert (await said(telegram, "answerCallbackQuery", 2))[-1]["text"].startswith("Approved")
    assert (await _status(db, txn))[0] == "delivered"


async def test_the_secret_is_checked_before_any_count_and_updates_count_per_chat_and_user(
    settings: Settings, telegram: BotApi, db: Database
) -> None:
    """Wrong-secret posts count in no bucket; a chat or user past its minute is refused (4561)
    while another chat, from the same address, is not."""
    tight = settings.model_copy(
        update={**bot_settings(telegram), "telegram_updates_per_chat_per_minute": 2}
    )
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    chat, user = 6_000_000 + uuid.uuid4().int % 1_000_000, 8_000_000 + uuid.uuid4().int % 1_000_000
    async with running_app(tight) as app:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        base = "http://gateway.test/api/public/v1"
        async with httpx.AsyncClient(transport=transport, base_url=base) as api:
            hello = update_of_message(chat, user, "hello")
            forged = [(await post_update(api, hello, secret="x")).status_code for _ in range(5)]
            genuine = [(await post_update(api, hello)).status_code for _ in range(3)]
            past = await post_update(api, hello)
            other = await post_update(api, update_of_message(chat + 1, user + 1, "hello"))
            # The same user in another chat is past their own minute all the same.
            same_user = await post_update(api, update_of_message(chat + 2, user, "hello"))
            # ...and that refusal took nothing from the other chat: its minute is whole.
            there = [
                (await post_update(api, update_of_message(chat + 2, user + n, "hi"))).status_code
                for n in (2, 3)
            ]
    assert forged == [401] * 5
    assert genuine == [200, 200, 429]
    assert past.status_code == 429 and past.json()["code"] == 4561
    assert other.status_code == 200 and same_user.status_code == 429
    assert there == [200, 200]
    assert telegram.calls == []


async def test_a_flood_of_strangers_and_forgers_leaves_a_genuine_press_answered(
    bot_app: ASGIApp, db: Database, telegram: BotApi, start_worker: StartWorker
) -> None:
    """650 updates from Telegram's one address, 20 at a time: posts with a wrong secret and
    strangers' messages, each chat its own. The approver's press after them is answered and
    decides, and the strangers wrote no row of the bot's outbox."""
    await start_worker(**bot_settings(telegram))
    address = f"149.154.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}"
    transport = httpx.ASGITransport(app=bot_app, client=(address, 40000))
    base = "http://gateway.test/api/public/v1"
    async with httpx.AsyncClient(transport=transport, base_url=base) as api:
        _, txn, data, sent = await _linked_with_a_held_post(bot_app, telegram, api)
        rows = await _calls_written(db)

        async def one(n: int) -> int:
            update = update_of_message(STRANGER + n, STRANGER + n, ("/balance", "hello")[n % 2])
            reply = await post_update(api, update, secret=None if n % 3 == 0 else WEBHOOK_SECRET)
            return reply.status_code

        codes: list[int] = []
        for start in range(0, 650, 20):
            codes += await asyncio.gather(*(one(n) for n in range(start, min(start + 20, 650))))
        assert set(codes) == {200, 401} and 429 not in codes
        assert await _calls_written(db) == rows
        press = await post_update(api, update_of_press(sent, ANN, data))
        assert press.status_code == 200, press.text
        assert (await said(telegram, "answerCallbackQuery", 1))[-1]["text"].startswith("Approved")
    assert (await _status(db, txn))[0] == "delivered"


async def test_a_held_payment_to_a_seller_is_decided_by_its_approvers_press(
    bot_app: ASGIApp,
    db: Database,
    telegram: BotApi,
    start_worker: StartWorker,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
) -> None:
    await start_worker(**bot_settings(telegram))
    owner, _ = await _owner_with_key(bot_app)
    made = await owner.post("/telegram/code", {}, page="/telegram")
    code = re.search(r"/start (tgl_[\w-]+)", made.text)
    assert code is not None
    async with asgi_client(bot_app) as api:
        start = update_of_message(CHAT, ANN, f"/start {code.group(1)}")
        assert (await post_update(api, start)).is_success
        await said(telegram, "sendMessage", 1)
        agent = await make_merchant(balance_cents=1_000, merchant_id=await _merchant_of(db, owner))
        await set_policy(db, agent.key_id, HOLDING)
        payment_id = await held(api, agent, "tg-1")
        post = (await said(telegram, "sendMessage", 2))[-1]
        assert post["chat_id"] == CHAT and payment_id in post["text"]
        assert "$0.25" in post["text"] and SELLER in post["text"]
        [[approve, _]] = post["reply_markup"]["inline_keyboard"]
        sent = {"message_id": 100, "chat": {"id": CHAT, "type": "group"}}

        # A stranger's press decides nothing; the approver's decides, once.
        stranger = update_of_press(sent, STRANGER, approve["callback_data"])
        assert (await post_update(api, stranger)).is_success
        assert "decides nothing" in (await said(telegram, "answerCallbackQuery", 1))[-1]["text"]
        assert await status_of(db, payment_id) == ("pending_approval", None)
        mine = update_of_press(sent, ANN, approve["callback_data"])
        assert (await post_update(api, mine)).is_success
        answered = (await said(telegram, "answerCallbackQuery", 2))[-1]
        assert answered["text"] == "Approved: paid."
        status, decided_by = await status_of(db, payment_id)
        assert status == "authorized" and (decided_by or "").startswith("user:")
        assert (await post_update(api, mine)).is_success
        assert "decides nothing" in (await said(telegram, "answerCallbackQuery", 3))[-1]["text"]
        # The agent's retry now gets its credential.
        replay = await pay(api, agent, "tg-1")
        assert replay.status_code == 201
        assert replay.json()["data"]["value"] == tally.made[payment_id].value


async def _merchant_of(db: Database, owner: Account) -> str:
    async with db.read() as conn:
        found = await conn.execute(
            select(table_of(MerchantUser).c.merchant_id)
            .join(table_of(User), table_of(User).c.id == table_of(MerchantUser).c.user_id)
            .where(table_of(User).c.email == owner.email)
        )
        return str(found.scalar_one())
