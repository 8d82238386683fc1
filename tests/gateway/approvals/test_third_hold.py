"""A third kind of hold: a made-up one (an operator's payout, ``tests/fixtures/payout_hold.py``:
one module and one registry line, ``registry.registered``) is listed in the dashboard's inbox
and counted in its navigation, offered to its approver by mail and in Telegram, decided once by
the mailed link's page and by a button's press, ended by the expiry and cancelled by the kill
switch, with no other change to the product."""

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from starlette.types import ASGIApp

from gateway.approvals import links
from gateway.holds import registry
from gateway.operations import perform
from gateway.services import open_services
from gateway.store.engine import Database
from gateway.store.models import Mail, MerchantUser, User, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, asgi_client
from tests.fixtures.dashboard import Account, client_from, csrf_of, dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.payout_hold import APPROVED, PAYOUTS, PayoutHold, made
from tests.fixtures.telegram import (
    BotApi,
    bot_settings,
    post_update,
    said,
    update_of_message,
    update_of_press,
)
from tests.fixtures.workers import StartWorker
from worker import expiry

_M, _U, _MU = table_of(Mail), table_of(User), table_of(MerchantUser)
CHAT, ANN = 5550301, 7770301


async def _merchant_of(db: Database, owner: Account) -> str:
    async with db.read() as conn:
        found = await conn.execute(
            sa.select(_MU.c.merchant_id)
            .join(_U, _U.c.id == _MU.c.user_id)
            .where(_U.c.email == owner.email)
        )
        return str(found.scalar_one())


async def _held(db: Database, key: MerchantKey, merchant_id: str, cents: int) -> str:
    """A payout of ``cents`` asked for by ``key``, held for an hour: its id."""
    payout = f"po_{uuid.uuid4().hex[:24]}"
    async with db.transaction() as conn:
        await conn.execute(
            PAYOUTS.insert().values(
                id=payout,
                merchant_id=merchant_id,
                env="staging",
                api_key_id=key.key_id,
                amount_cents=cents,
                status="pending_approval",
                approval_expires_at=utcnow() + timedelta(hours=1),
            )
        )
    return payout


async def _status(db: Database, payout: str) -> tuple[str, str | None]:
    async with db.read() as conn:
        found = await conn.execute(
            sa.select(PAYOUTS.c.status, PAYOUTS.c.decided_by).where(PAYOUTS.c.id == payout)
        )
        row = found.one()
    return row.status, row.decided_by


async def _mailed_token(db: Database, payout: str) -> str:
    """The token of the approval mail of ``payout``, opened from its sealed row."""
    sealer = Sealer(TEST_SECRET.encode())
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(_M).where(_M.c.kind == "approval_request"))).all()
    for row in rows:
        data = json.loads(sealer.open(row.data_sealed, context=row.id))
        if data.get("payout_id") == payout:
            return str(data["token"])
    raise AssertionError(f"no approval mail for {payout}")


async def test_a_made_up_hold_goes_through_the_inbox_a_mailed_link_telegram_a_freeze_and_expiry(
    bot_app: ASGIApp,
    settings: Settings,
    db: Database,
    telegram: BotApi,
    start_worker: StartWorker,
    make_merchant: MakeMerchant,
) -> None:
    running = await start_worker(**bot_settings(telegram))
    async with made(db):
        await _through_every_door(bot_app, settings, db, telegram, running.ctx, make_merchant)
    assert [each.name for each in registry.holds()] == ["topup", "payment"]


async def _through_every_door(
    bot_app: ASGIApp,
    settings: Settings,
    db: Database,
    telegram: BotApi,
    ctx: dict[str, Any],
    make_merchant: MakeMerchant,
) -> None:
    with registry.registered(PayoutHold()) as hold:
        owner = await sign_up_on(dashboard_client(bot_app))
        merchant_id = await _merchant_of(db, owner)
        coded = await owner.post("/telegram/code", {}, page="/telegram")
        code = re.search(r"/start (tgl_[\w-]+)", coded.text)
        assert code is not None
        async with asgi_client(bot_app) as api:
            start = update_of_message(CHAT, ANN, f"/start {code.group(1)}")
            assert (await post_update(api, start)).is_success
            await said(telegram, "sendMessage", 1)
            key = await make_merchant(merchant_id=merchant_id)
            payouts = {
                name: await _held(db, key, merchant_id, cents)
                for name, cents in (("mailed", 1_100), ("pressed", 1_200), ("late", 1_300))
            }
            payouts["frozen"] = await _held(db, key, merchant_id, 1_400)
            async with open_services(settings.model_copy(update=bot_settings(telegram))) as svc:
                for payout in payouts.values():
                    asking = links.offer(svc.db, svc.sealer, svc.redis, svc.settings, hold, payout)
                    assert (await perform(svc.waker, asking)).deliveries

            # The inbox lists each, as its approvers are told of it.
            inbox = await owner.client.get("/topups/approvals")
            assert inbox.status_code == 200 and 'id="held-payout"' in inbox.text
            assert all(payout in inbox.text for payout in payouts.values())
            assert "$11.00" in inbox.text and "Nothing is waiting" not in inbox.text
            assert 'id="pending-approvals" title="Sends awaiting approval">4<' in inbox.text

            # The mailed link shows it and decides it once, as its approver.
            token = await _mailed_token(db, payouts["mailed"])
            async with client_from(bot_app, "203.0.113.71") as browser:
                shown = await browser.get("/approval", params={"token": token})
                assert shown.status_code == 200 and payouts["mailed"] in shown.text
                form = {"csrf_token": csrf_of(shown.text), "token": token, "decision": "approve"}
                done = await browser.post("/approval", data=form)
                assert done.status_code == 200 and 'id="decided"' in done.text
                assert (await browser.get("/approval", params={"token": token})).status_code == 404
            status, by = await _status(db, payouts["mailed"])
            assert status == "approved" and (by or "").startswith("user:")

            # Its button in Telegram decides it, for the approver linked there, once.
            posts = await said(telegram, "sendMessage", 5)
            [post] = [p for p in posts if payouts["pressed"] in p["text"]]
            assert "a payout of $12.00" in post["text"]
            [[approve, _]] = post["reply_markup"]["inline_keyboard"]
            sent = {"message_id": 100, "chat": {"id": CHAT, "type": "group"}}
            press = update_of_press(sent, ANN, approve["callback_data"])
            assert (await post_update(api, press)).is_success
            assert (await said(telegram, "answerCallbackQuery", 1))[-1]["text"] == APPROVED
            assert (await post_update(api, press)).is_success
            again = (await said(telegram, "answerCallbackQuery", 2))[-1]["text"]
            assert "decides nothing" in again
            status, by = await _status(db, payouts["pressed"])
            assert status == "approved" and (by or "").startswith("user:")

            # The expiry ends it once its window has closed, and only then.
            assert await expiry.expire_approvals(ctx) == 0
            async with db.transaction() as conn:
                await conn.execute(
                    sa.update(PAYOUTS)
                    .where(PAYOUTS.c.id == payouts["late"])
                    .values(approval_expires_at=utcnow() - timedelta(seconds=1))
                )
            assert await expiry.expire_approvals(ctx) == 1
            assert await _status(db, payouts["late"]) == ("expired", "expiry")

            # The kill switch cancels what is still held, and nothing already decided.
            frozen = await owner.post("/freeze", {"held": "cancel"}, page="/freeze")
            assert frozen.status_code == 303
            assert await _status(db, payouts["frozen"]) == ("denied", "freeze")
            assert (await _status(db, payouts["mailed"]))[0] == "approved"
            thawed = await owner.post("/freeze/off", {}, page="/freeze")
            assert thawed.status_code == 303
            emptied = await owner.client.get("/topups/approvals")
            assert 'id="held-payout"' not in emptied.text and "Nothing is waiting" in emptied.text
