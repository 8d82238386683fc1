"""An operator's refund of a paid order: through Stripe (the stand-in, driven by the real
``stripe`` package) in part and in full, never past what was paid, however many race; refused
for a channel that cannot refund and for bad input, with nothing changed. On both stores."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.ops.routing import BODY_ERRORS
from gateway.store.db import Database
from gateway.store.models import FundingOrder, LedgerEntry, table_of
from gateway.values.settings import Settings
from tests.fixtures.billing import ADMIN_TOKEN, insert_orders, order_row
from tests.fixtures.core import live_server
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.stripe import StripeStandIn

_O = table_of(FundingOrder)
_L = table_of(LedgerEntry)
BODY_CODES = {int(code) for code in BODY_ERRORS}


@pytest.fixture(scope="session")
async def stood_in_url(stripe_stood_in_settings: Settings) -> AsyncIterator[str]:
    async with live_server(stripe_stood_in_settings) as root:
        yield root


@pytest.fixture
async def admin(stood_in_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"{stood_in_url}/api/admin/v1",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    ) as http:
        yield http


@pytest.fixture
async def api(stood_in_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{stood_in_url}/api/public/v1", timeout=30) as http:
        yield http


async def balance(api: httpx.AsyncClient, merchant: MerchantKey) -> int:
    value: int = (await api.get("/balance", headers=merchant.headers)).json()["data"][
        "balance_cents"
    ]
    return value


async def refunded(db: Database, order_id: str) -> tuple[int, int]:
    """The order's ``refunded_cents`` and its ``refund`` ledger entries that stand: less those
    a ``refund_reversal`` gave back (a refund the provider did not make)."""
    async with db.read() as conn:
        cents = (
            await conn.execute(select(_O.c.refunded_cents).where(_O.c.id == order_id))
        ).scalar_one()
        kinds = (
            await conn.execute(
                select(_L.c.kind).where(
                    _L.c.reference == order_id, _L.c.kind.in_(("refund", "refund_reversal"))
                )
            )
        ).scalars()
    entries = [str(kind) for kind in kinds]
    return int(cents), entries.count("refund") - entries.count("refund_reversal")


async def paid_order(db: Database, merchant: MerchantKey, cents: int, **fields: Any) -> str:
    row = order_row(merchant.merchant_id, env=merchant.env, cents=cents, status="completed")
    async with db.transaction() as conn:
        await insert_orders(conn, [{**row, **fields}])
    return str(row["id"])


async def test_a_live_stripe_order_is_refunded_in_part_then_in_full(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    db: Database,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("live")
    made = await api.post(
        "/billing/checkout", json={"pack_id": "pack_pro"}, headers=merchant.headers
    )
    assert made.status_code == 201, made.text
    order = made.json()["data"]
    session = stripe_stand_in.session_of(order["order_id"])
    stripe_stand_in.pay(session["id"])
    checked = await admin.post(f"/orders/{order['order_id']}/check")
    assert checked.status_code == 200, checked.text
    credited = await balance(api, merchant)
    assert credited == order["credit_cents"]
    paid, path = order["amount_cents"], f"/orders/{order['order_id']}/refund"

    # Stripe refusing (refunded there already, by hand): the debit is given back, the wallet and
    # the order as they were.
    intent = stripe_stand_in.intents[session["payment_intent"]]
    intent["amount_refunded"] = paid
    refused = await admin.post(path, json={"reason": "refunded at Stripe"})
    assert (refused.status_code, refused.json()["code"]) == (502, 4107), refused.text
    assert await balance(api, merchant) == credited
    assert await refunded(db, order["order_id"]) == (0, 0)
    intent["amount_refunded"] = 0

    part = await admin.post(path, json={"amount_cents": 500, "reason": "asked by payer"})
    assert part.status_code == 200, part.text
    data = part.json()["data"]
    assert (data["amount_cents"], data["refunded_cents"]) == (500, 500)
    assert data["debit_cents"] == order["credit_cents"] * 500 // paid
    assert data["refund_id"].startswith("re_")
    assert await balance(api, merchant) == credited - data["debit_cents"]

    rest = await admin.post(path, json={"reason": "the rest"})
    assert rest.status_code == 200, rest.text
    assert rest.json()["data"]["refunded_cents"] == paid
    assert rest.json()["data"]["refundable_cents"] == 0
    # The whole payment back takes back exactly what it credited.
    assert await balance(api, merchant) == 0
    assert intent["amount_refunded"] == paid

    past = await admin.post(path, json={"amount_cents": 1, "reason": "once more"})
    assert past.status_code == 409
    assert past.json()["code"] == 4482
    assert past.json()["data"]["refundable_cents"] == 0
    assert await refunded(db, order["order_id"]) == (paid, 2)
    audit = await admin.get("/audit", params={"action": "orders.refund"})
    assert audit.status_code == 200, audit.text
    await assert_ledger_balanced(db)


async def test_concurrent_refunds_of_one_order_give_back_at_most_what_was_paid(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=1000)
    order_id = await paid_order(db, merchant, 1000)

    async def one() -> httpx.Response:
        body = {"amount_cents": 300, "reason": "race"}
        return await admin.post(f"/orders/{order_id}/refund", json=body)

    replies = await asyncio.gather(*(one() for _ in range(10)))
    codes = sorted(reply.json()["code"] for reply in replies)
    assert codes.count(4482) == 7, [reply.text for reply in replies]
    assert await refunded(db, order_id) == (900, 3)
    assert await balance(api, merchant) == 100
    await assert_ledger_balanced(db)


async def test_a_channel_without_refunds_and_a_short_wallet_are_refused(
    admin: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=1000)
    epay = await paid_order(db, merchant, 1000, provider="epay", channel="epay")
    reply = await admin.post(f"/orders/{epay}/refund", json={"reason": "no way back"})
    assert reply.status_code == 409
    assert (reply.json()["code"], reply.json()["data"]) == (4481, {"channel": "epay"})

    spent = await make_merchant("staging", balance_cents=100)
    order_id = await paid_order(db, spent, 1000)
    reply = await admin.post(f"/orders/{order_id}/refund", json={"reason": "spent already"})
    assert reply.status_code == 409
    assert (reply.json()["code"], reply.json()["data"]) == (4483, {"debit_cents": 1000})
    assert await refunded(db, order_id) == (0, 0)

    pending = await paid_order(db, spent, 1000, status="pending")
    reply = await admin.post(f"/orders/{pending}/refund", json={"reason": "unpaid"})
    assert (reply.status_code, reply.json()["code"]) == (409, 4480)


@pytest.mark.parametrize(
    "body",
    [
        {"amount_cents": 0, "reason": "zero"},
        {"amount_cents": "5", "reason": "text"},
        {"amount_cents": 5},
        {"amount_cents": 5, "reason": ""},
        {"amount_cents": 5, "reason": "x", "extra": 1},
        [],
    ],
)
async def test_bad_input_is_the_envelope_and_changes_nothing(
    admin: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, body: Any
) -> None:
    merchant = await make_merchant("staging", balance_cents=1000)
    order_id = await paid_order(db, merchant, 1000)
    reply = await admin.post(f"/orders/{order_id}/refund", json=body)
    assert reply.status_code in (400, 422), reply.text
    assert reply.json()["code"] in BODY_CODES, reply.text
    assert await refunded(db, order_id) == (0, 0)
    missing = await admin.post("/orders/ord_missing/refund", json={"reason": "none"})
    assert (missing.status_code, missing.json()["code"]) == (404, 4130)
