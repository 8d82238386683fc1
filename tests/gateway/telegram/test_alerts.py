"""Level events in Telegram: a linked chat is told of each crossing of its merchant once, down
and back, however many relays run at once, and of nothing from before it was linked or of
another merchant; a key's and a budget's levels as the wallet's, each chat in the words of the
member who linked it, sent through a stand-in of the Bot API by the worker."""

import asyncio
import json
import uuid
from typing import Any

from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.merchants import preferences
from gateway.policies import thresholds
from gateway.store.engine import Database
from gateway.store.models import TelegramChat, TelegramMessage, User, table_of
from gateway.telegram import alerts
from gateway.values.clock import utcnow
from gateway.values.languages import money_in
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, asgi_client, wait_until
from tests.fixtures.languages import latin_left
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.telegram import BotApi, bot_settings, linked_member
from tests.fixtures.workers import StartWorker
from worker.telegram import telegram_alerts

SEALER = Sealer(TEST_SECRET.encode())
_C, _G, _U = table_of(TelegramChat), table_of(TelegramMessage), table_of(User)


async def _send(app: ASGIApp, key: MerchantKey, cents: int) -> None:
    async with asgi_client(app) as api:
        sent = await api.post(
            "/topup/send",
            headers=key.headers,
            json={"platform": "claude", "amount_cents": cents, "recipient_email": "a@ex.com"},
        )
    assert sent.status_code == 200, sent.text


async def _told(db: Database, ids: list[str]) -> list[dict[str, object]]:
    async with db.read() as conn:
        rows = (await conn.execute(select(_G).where(_G.c.id.in_(ids)))).all()
    return [json.loads(SEALER.open(r.call_sealed, context=r.id))["params"] for r in rows]


async def test_each_crossing_is_told_to_each_linked_chat_once(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    key = await make_merchant(balance_cents=1_000, low_balance_threshold_cents=500)
    other = await make_merchant(balance_cents=1_000, low_balance_threshold_cents=500)
    await _send(app, key, 100)  # no crossing
    await linked_member(db, key.merchant_id, 4242)
    await linked_member(db, other.merchant_id, 4343)
    await _send(app, key, 500)  # 900 -> 400: a crossing
    await _send(app, key, 100)  # below already: none

    runs = await asyncio.gather(*(alerts.relay(db, SEALER) for _ in range(8)))
    written = [call for run in runs for call in run]
    # Other tests' chats may be told of their own merchants' events here: only these count.
    told = [t for t in await _told(db, written) if t["chat_id"] in (4242, 4343)]
    assert [t["chat_id"] for t in told] == [4242]
    assert told[0]["text"] == "Balance low (staging): $4.00, below the alert line of $5.00."
    again = await _told(db, await alerts.relay(db, SEALER))
    assert [t for t in again if t["chat_id"] in (4242, 4343)] == []

    async with asgi_client(app) as api:  # 300 -> 800: back above the line
        funded = await api.post("/sandbox/fund", headers=key.headers, json={"amount_cents": 500})
    assert funded.status_code == 200, funded.text
    back = await _told(db, await alerts.relay(db, SEALER))
    assert [t["text"] for t in back if t["chat_id"] == 4242] == [
        "Balance recovered (staging): $8.00, back at or above the alert line of $5.00."
    ]


EN, ZH, JA = 6660001, 6660002, 6660003
DAILY = [{"amount_cents": 1_000, "interval": "daily"}]


async def test_key_and_budget_levels_reach_each_linked_chat_in_its_language(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant, telegram: BotApi,
    start_worker: StartWorker,
) -> None:  # fmt: skip
    worker = await start_worker(**bot_settings(telegram))
    owner = await make_merchant(balance_cents=10_000)
    for chat, language in ((EN, None), (ZH, "zh"), (JA, "ja")):
        await linked_member(db, owner.merchant_id, chat, language)
    async with asgi_client(app) as api:
        made = await api.post(
            "/budgets",
            json={"name": "fleet", "windows": {"limits": DAILY}, "thresholds_percent": [50]},
            headers=owner.headers,
        )
        assert made.status_code == 201, made.text
        budget = made.json()["data"]["id"]
        policy = {
            "limits": DAILY,
            "thresholds_percent": [50],
            "approval_above_cents": 0,  # every send held: a denial gives it back
            "budgets": [budget],
        }
        agent = await api.post(
            "/keys", json={"name": "agent", "policy": policy}, headers=owner.headers
        )
        assert agent.status_code == 201, agent.text
        bearer = {"Authorization": f"Bearer {agent.json()['data']['key']}"}
        agent_id = agent.json()["data"]["id"]
        send = {"platform": "claude", "amount_cents": 100, "recipient_email": "a@ex.com"}
        held = [await api.post("/topup/send", json=send, headers=bearer) for _ in range(5)]
        assert {r.json()["code"] for r in held} == {1006}  # 50% of the day's $10.00 held
        for reply in held:
            denied = await api.post(
                f"/topup/{reply.json()['transaction_id']}/deny", headers=owner.headers
            )
            assert denied.json()["status"] == "denied", denied.text
    await thresholds.alert(db, thresholds.Alerting((agent_id, budget)), utcnow())

    assert await telegram_alerts(worker.ctx) >= 12  # four events, three chats

    def levels() -> dict[int, list[str]]:
        """What each chat was told by the relay: not the held sends' posts, which have buttons."""
        said: dict[int, list[str]] = {}
        for call in telegram.of("sendMessage"):
            if call["chat_id"] in (EN, ZH, JA) and "reply_markup" not in call:
                said.setdefault(int(call["chat_id"]), []).append(str(call["text"]))
        return said

    async def arrived() -> bool:
        return sum(len(texts) for texts in levels().values()) >= 12

    await wait_until(arrived)
    said = levels()
    assert sorted(said[EN]) == sorted(
        [
            "Budget fleet (staging) reached 50% of its limit: $5.00 of $10.00 spent.",
            "Key agent (staging) reached 50% of its limit: $5.00 of $10.00 spent.",
            "Budget fleet (staging) is back under 50% of its limit: $0.00 of $10.00 spent.",
            "Key agent (staging) is back under 50% of its limit: $0.00 of $10.00 spent.",
        ]
    )
    zh_key = "密钥 agent（测试）已达到其限额的 50%：已花费 US$5.00，限额 US$10.00。"  # noqa: RUF001
    zh_back = "预算 fleet（测试）已回到其限额的 50% 以下：已花费 US$0.00，限额 US$10.00。"  # noqa: RUF001
    ja_key = (
        "キー agent（ステージング）が上限の 50% に達しました：上限 $10.00 のうち $5.00 を使用。"  # noqa: RUF001
    )
    assert zh_key in said[ZH] and zh_back in said[ZH]
    assert ja_key in said[JA]
    assert len(said[ZH]) == len(said[JA]) == 4
    # Told once: the next relay has nothing more for these chats.
    again = await _told(db, await alerts.relay(db, SEALER))
    assert [t for t in again if t["chat_id"] in (EN, ZH, JA)] == []


def test_every_relayed_event_has_its_words_in_each_language() -> None:
    from gateway.store.models import RELAYED_TYPES
    from gateway.values.languages import LANGUAGES, Catalogues

    catalogues = Catalogues.load()
    data: dict[str, Any] = {
        "balance_cents": 400,
        "threshold_cents": 500,
        "threshold_percent": 80,
        "spent_cents": 800,
        "limit_cents": 1_000,
    }
    for type_ in RELAYED_TYPES:
        english = alerts.words(alerts.Told(type_, "live", data, "k"), catalogues.reading("en"))
        for language in LANGUAGES[1:]:
            said = alerts.words(alerts.Told(type_, "live", data, "k"), catalogues.reading(language))
            assert said != english, (type_, language)


async def test_a_member_without_a_language_is_told_in_the_merchants(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    """Their own language, else their merchant's, as their approval mail and the bot's posts."""
    key = await make_merchant(balance_cents=1_000, low_balance_threshold_cents=500)
    await preferences.set_recipients_language(db, key.merchant_id, "ja")
    chat = 6_100_000 + uuid.uuid4().int % 100_000
    await linked_member(db, key.merchant_id, chat)
    await _send(app, key, 600)  # 1,000 -> 400: a crossing
    told = [t for t in await _told(db, await alerts.relay(db, SEALER)) if t["chat_id"] == chat]
    [said] = [str(t["text"]) for t in told]
    assert money_in(400, "ja") in said and not latin_left(said), said
    assert not said.startswith("Balance low"), said
