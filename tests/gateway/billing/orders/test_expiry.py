"""Pending orders past their expiry are expired by the sweep, in both environments, and give
their coupon uses back; the worker runs the sweep."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
import respx
from sqlalchemy import select, update

from gateway.billing.orders import expire_due
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, table_of
from gateway.values.clock import utcnow
from tests.fixtures.billing import STRIPE_API
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.workers import StartWorker

_O = table_of(FundingOrder)
SESSIONS = f"{STRIPE_API}/v1/checkout/sessions"


def _body(coupon: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pack_id": "pack_pro",
        "success_url": "https://m.example/ok",
        "cancel_url": "https://m.example/no",
    }
    if coupon is not None:
        body["coupon"] = coupon
    return body


async def _checkout(
    client: httpx.AsyncClient, merchant: MerchantKey, coupon: str | None = None
) -> tuple[str, str]:
    """A pending order (live through a stood-in Stripe); its id and checkout URL."""
    with respx.mock(assert_all_called=False) as stripe_api:
        session = f"cs_test_{uuid.uuid4().hex}"
        stripe_api.post(SESSIONS).respond(
            200, json={"id": session, "object": "checkout.session", "url": "https://pay.example"}
        )
        reply = await client.post("/billing/checkout", json=_body(coupon), headers=merchant.headers)
    assert reply.status_code == 201, reply.text
    data = reply.json()["data"]
    return data["order_id"], data["checkout_url"]


async def _make_due(db: Database, *order_ids: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(_O)
            .where(_O.c.id.in_(order_ids))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def _statuses(db: Database, *order_ids: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(select(_O.c.id, _O.c.status).where(_O.c.id.in_(order_ids)))
        found = {r.id: r.status for r in rows}
    return [found[o] for o in order_ids]


async def _uses(admin: httpx.AsyncClient, coupon_id: str) -> dict[str, int]:
    listed = await admin.get("/coupons")
    [row] = [c for c in listed.json()["data"] if c["id"] == coupon_id]
    uses: dict[str, int] = row["uses_by_env"]
    return uses


async def test_the_sweep_expires_what_is_due_in_both_envs_and_gives_uses_back(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    staging, live = await make_merchant("staging"), await make_merchant("live")
    made = await admin_client.post("/coupons", json={"code": "SWEPTBACK", "percent_off": 5})
    coupon_id = made.json()["data"]["id"]
    due_staging, _ = await _checkout(billing_client, staging, "SWEPTBACK")
    due_live, _ = await _checkout(billing_client, live, "SWEPTBACK")
    still_open, _ = await _checkout(billing_client, staging, "SWEPTBACK")
    paid, link = await _checkout(billing_client, staging)
    payment = await billing_client.post(
        link.replace("?", "/pay?"), headers={"Accept": "application/json"}
    )
    assert payment.status_code == 200, payment.text
    await _make_due(db, due_staging, due_live, paid)
    assert await _uses(admin_client, coupon_id) == {"staging": 2, "live": 1}

    assert await expire_due(db) >= 2
    assert await _statuses(db, due_staging, due_live, still_open, paid) == [
        "expired",
        "expired",
        "pending",
        "completed",
    ]
    assert await _uses(admin_client, coupon_id) == {"staging": 1, "live": 0}
    assert await expire_due(db) == 0  # nothing twice
    assert await _uses(admin_client, coupon_id) == {"staging": 1, "live": 0}


async def test_the_worker_expires_due_orders(
    billing_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
) -> None:
    merchant = await make_merchant("staging")
    order_id, _ = await _checkout(billing_client, merchant)
    await _make_due(db, order_id)
    await start_worker()  # the sweep runs at start, then every minute

    async def expired() -> bool:
        return await _statuses(db, order_id) == ["expired"]

    await wait_until(expired)
