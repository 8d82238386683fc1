"""``balance.low`` and ``balance.recovered`` in Telegram: a linked chat is told of each
crossing of its merchant once, down and back, however many relays run at once, and of nothing
from before it was linked or of another merchant."""

import asyncio
import json

from sqlalchemy import insert, select
from starlette.types import ASGIApp

from gateway.outbox import new_event_id
from gateway.store.db import Database
from gateway.store.models import TelegramChat, TelegramMessage, User, table_of
from gateway.telegram import alerts
from gateway.values.clock import new_id, utcnow
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, asgi_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey, add_member

SEALER = Sealer(TEST_SECRET.encode())
_C, _G, _U = table_of(TelegramChat), table_of(TelegramMessage), table_of(User)


async def _link(db: Database, merchant_id: str, chat_id: int) -> None:
    email = await add_member(db, merchant_id)
    async with db.transaction() as conn:
        user_id = (await conn.execute(select(_U.c.id).where(_U.c.email == email))).scalar_one()
        await conn.execute(
            insert(_C).values(
                id=new_id("tgc"),
                merchant_id=merchant_id,
                user_id=user_id,
                chat_id=chat_id,
                telegram_user_id=chat_id,
                alerted_through=new_event_id(),
                created_at=utcnow(),
            )
        )


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
    await _link(db, key.merchant_id, 4242)
    await _link(db, other.merchant_id, 4343)
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
