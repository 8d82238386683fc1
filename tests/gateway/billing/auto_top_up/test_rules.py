"""Auto top-up: a wallet that tops itself up from its saved payment method when a debit takes it
under its threshold, once per crossing, one at a time, within its monthly cap, and off after
three refusals in a row. On both stores; real concurrent sends for the race."""

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.billing import auto_top_up
from gateway.billing.auto_top_up import runs as auto_top_up_runs
from gateway.mail.content import compose
from gateway.store.engine import Database
from gateway.store.models import AutoTopUpRun, FundingOrder, Mail, Receipt, Wallet, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import local_client, wait_until
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    add_member,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.webhooks import events_of
from tests.fixtures.workers import StartWorker

_R = table_of(AutoTopUpRun)
_O = table_of(FundingOrder)
_W = table_of(Wallet)
_M = table_of(Mail)
_RC = table_of(Receipt)

PATH = "/wallet/auto-top-up"


async def _auto(
    client: httpx.AsyncClient,
    merchant: MerchantKey,
    card: str = "pm_card_visa",
    **settings: Any,
) -> dict[str, Any]:
    saved = await client.post(
        f"{PATH}/setup", json={"payment_method": card}, headers=merchant.headers
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["data"]["status"] == "saved", saved.text
    body = {"threshold_cents": 5_000, "target_cents": 20_000, "monthly_cap_cents": 100_000}
    put = await client.put(PATH, json={**body, **settings}, headers=merchant.headers)
    assert put.status_code == 200, put.text
    data: dict[str, Any] = put.json()["data"]
    assert data["armed"] is True
    return data


async def _send(client: httpx.AsyncClient, merchant: MerchantKey, amount: int) -> None:
    body = {
        "platform": "claude",
        "amount_cents": amount,
        "recipient_email": f"r-{uuid.uuid4().hex[:8]}@example.com",
    }
    sent = await client.post("/topup/send", json=body, headers=merchant.headers)
    assert sent.json()["code"] == 1001, sent.text


async def _runs(db: Database, merchant: MerchantKey) -> list[Any]:
    async with db.read() as conn:
        found = await conn.execute(
            select(_R).where(_R.c.merchant_id == merchant.merchant_id).order_by(_R.c.created_at)
        )
        return list(found.all())


async def _try_due(db: Database, settings: Settings, merchant: MerchantKey) -> str | None:
    """The merchant's due run tried once, as the runner's kind tries it."""
    due = [r for r in await _runs(db, merchant) if r.status == "due"]
    assert len(due) == 1
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    run = SimpleNamespace(**due[0]._mapping)
    tried = await auto_top_up_runs.attempt(db, settings, sealer, run, utcnow())
    return tried.status


@pytest.mark.xdist_group("concurrency")
async def test_fifty_racing_sends_that_cross_the_threshold_make_exactly_one_top_up(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    live_url: str,
    start_worker: StartWorker,
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    await _auto(client, merchant)
    body = {"platform": "claude", "amount_cents": 200, "recipient_email": "race@example.com"}
    limits = httpx.Limits(max_connections=100)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(http.post("/topup/send", json=body, headers=merchant.headers) for _ in range(50))
        )
    assert {r.json()["code"] for r in replies} == {1001}
    assert await merchant_balance(db, merchant) == 0
    runs = await _runs(db, merchant)
    assert [r.status for r in runs] == ["due"]

    await start_worker()

    async def finished() -> bool:
        return [r.status for r in await _runs(db, merchant)] == ["done"]

    await wait_until(finished, within=20)
    [run] = await _runs(db, merchant)
    assert (run.outcome, run.amount_cents) == ("credited", 20_000)
    assert await merchant_balance(db, merchant) == 20_000
    async with db.read() as conn:
        orders = (await conn.execute(select(_O).where(_O.c.id == run.order_id))).all()
        receipts = (await conn.execute(select(_RC).where(_RC.c.reference == run.order_id))).all()
    assert [(o.kind, o.status, o.credit_cents) for o in orders] == [("auto", "completed", 20_000)]
    assert len(receipts) == 1
    assert len(await events_of(db, merchant.merchant_id, "order.paid")) == 1
    await assert_ledger_balanced(db)


async def test_a_send_that_stays_above_or_below_the_threshold_writes_no_run(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    await _auto(client, merchant, card="pm_card_chargeDeclined")
    await _send(client, merchant, 4_000)  # 6,000: above
    assert await _runs(db, merchant) == []
    await _send(client, merchant, 2_000)  # 4,000: crossed
    assert await _try_due(db, settings, merchant) == "refused"
    await _send(client, merchant, 1_000)  # 3,000: still under, no crossing
    assert [r.outcome for r in await _runs(db, merchant)] == ["refused"]


async def test_the_monthly_cap_holds_and_the_staging_test_clock_opens_the_next_month(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    await _auto(client, merchant, monthly_cap_cents=15_000)
    await _send(client, merchant, 6_000)  # 4,000
    assert await _try_due(db, settings, merchant) == "credited"
    assert await merchant_balance(db, merchant) == 19_000  # 15,000: all the cap allows
    await _send(client, merchant, 16_000)  # 3,000: crossed again, the month's cap spent
    assert await _try_due(db, settings, merchant) == "capped"
    assert await merchant_balance(db, merchant) == 3_000
    state = (await client.get(PATH, headers=merchant.headers)).json()["data"]
    assert state["month_cents"] == 15_000

    # The staging clock a month on: the cap counts the new month from nothing.
    moved = await client.post(
        "/sandbox/clock/advance",
        json={"seconds": 32 * 86_400},
        headers=merchant.headers,
    )
    assert moved.status_code == 200, moved.text
    await client.post("/sandbox/fund", json={"amount_cents": 3_000}, headers=merchant.headers)
    await _send(client, merchant, 2_000)  # 6,000 → 4,000: crossed
    assert await _try_due(db, settings, merchant) == "credited"
    assert await merchant_balance(db, merchant) == 19_000
    state = (await client.get(PATH, headers=merchant.headers)).json()["data"]
    assert state["month_cents"] == 15_000 and state["month"] != utcnow().strftime("%Y-%m")
    await assert_ledger_balanced(db)


@pytest.mark.xdist_group("concurrency")
async def test_concurrent_claims_never_pass_the_monthly_cap(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    await _auto(client, merchant, monthly_cap_cents=10_000)
    async with db.read() as conn:
        wallet_id = (
            await conn.execute(
                select(_W.c.id).where(
                    _W.c.owner == f"m:{merchant.merchant_id}", _W.c.env == "staging"
                )
            )
        ).scalar_one()

    async def claim() -> bool:
        async with db.transaction() as conn:
            found = await conn.execute(auto_top_up.claim_cap(wallet_id, "2026-11", 3_000))
            return found.first() is not None

    won = await asyncio.gather(*(claim() for _ in range(20)))
    assert won.count(True) == 3  # 9,000 of 10,000: a fourth would pass it
    state = (await client.get(PATH, headers=merchant.headers)).json()["data"]
    assert (state["month"], state["month_cents"]) == ("2026-11", 9_000)


async def test_three_refusals_in_a_row_turn_it_off_and_say_so(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    owner = await add_member(db, merchant.merchant_id)
    await _auto(client, merchant, card="pm_card_authenticationRequired")
    for round_ in range(3):
        await _send(client, merchant, 6_000)  # under 5,000
        assert await _try_due(db, settings, merchant) == "refused"
        state = (await client.get(PATH, headers=merchant.headers)).json()["data"]
        assert state["failures"] == round_ + 1
        await client.post("/sandbox/fund", json={"amount_cents": 6_000}, headers=merchant.headers)
    assert state["enabled"] is False and state["armed"] is False
    assert "authentication_required" in state["disabled_reason"]
    [told] = await events_of(db, merchant.merchant_id, "auto_top_up.disabled")
    assert told["data"]["failures"] == 3
    async with db.read() as conn:
        mails = (
            await conn.execute(
                select(_M).where(
                    _M.c.merchant_id == merchant.merchant_id, _M.c.kind == "auto_top_up_disabled"
                )
            )
        ).all()
        failed = (
            await conn.execute(
                select(func.count())
                .select_from(_O)
                .where(_O.c.merchant_id == merchant.merchant_id, _O.c.status == "failed")
            )
        ).scalar_one()
    assert failed == 3
    [mail] = mails
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    async with db.read() as conn:
        message = await compose(
            conn, sealer, mail, base_url="https://gw.example", link_ttl_seconds=60, now=utcnow()
        )
    assert message is not None and message.to == owner
    assert message.rendered.subject == "Auto top-up turned off (staging)"
    assert "refused 3 times in a row" in message.rendered.text
    assert message.link == "https://gw.example/dashboard/wallet"
    # Off: a crossing writes nothing more, and nothing was credited.
    await _send(client, merchant, 6_000)
    assert len(await _runs(db, merchant)) == 3
    assert await merchant_balance(db, merchant) == 4_000
    await assert_ledger_balanced(db)


async def test_bad_input_gets_the_envelope_and_changes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    h = merchant.headers
    assert (await client.get(PATH, headers=h)).json()["code"] == 4580
    cases: list[tuple[Any, int]] = [
        ({"threshold_cents": 5_000, "monthly_cap_cents": 1_000}, 4582),  # no target nor amount
        (
            {
                "threshold_cents": 5_000,
                "target_cents": 9_000,
                "amount_cents": 1,
                "monthly_cap_cents": 1_000,
            },
            4582,
        ),
        ({"threshold_cents": 5_000, "target_cents": 5_000, "monthly_cap_cents": 1_000}, 4582),
        ({"threshold_cents": "5000", "target_cents": 9_000, "monthly_cap_cents": 1_000}, 3001),
        ({"threshold_cents": 5_000, "amount_cents": 1.5, "monthly_cap_cents": 1_000}, 3001),
        ({"threshold_cents": 0, "amount_cents": 1, "monthly_cap_cents": 1_000}, 3001),
        ({"threshold_cents": 5_000, "amount_cents": 1, "monthly_cap_cents": 1, "x": 1}, 3001),
        ([], 3002),
    ]
    for body, code in cases:
        reply = await client.put(PATH, json=body, headers=h)
        assert reply.json()["code"] == code, (body, reply.text)
        assert reply.json()["success"] is False
    # No saved method: not enabled.
    ok = {"threshold_cents": 5_000, "amount_cents": 1_000, "monthly_cap_cents": 1_000}
    assert (await client.put(PATH, json=ok, headers=h)).json()["code"] == 4581
    assert (await client.get(PATH, headers=h)).json()["code"] == 4580
    unknown = await client.post(f"{PATH}/setup", json={"payment_method": "pm_nope"}, headers=h)
    assert unknown.json()["code"] == 4582
    assert (await client.delete(PATH, headers=h)).json()["code"] == 4580
