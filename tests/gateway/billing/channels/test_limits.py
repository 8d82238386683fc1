"""What one merchant can make the payment provider do: every door that reaches it counts in one
bucket per merchant and environment (checkout, invoice, "check payment", the payer's return, the
dashboard's forms, MCP's tool); open checkouts are capped per merchant and environment, exactly
under concurrent checkouts; an invoice goes only to the merchant's own users; and a checkout's
return URLs are https or the gateway's own, never an address inside a network. Stripe is the
stand-in (tests/fixtures/stripe.py), whose log of requests counts what reached it."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from gateway.store.engine import Database
from gateway.store.models import FundingOrder, MerchantUser, User, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client, make_settings, running_app
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.limiters import client_at, limits, unique_address
from tests.fixtures.merchants import MakeMerchant, MerchantKey, add_member
from tests.fixtures.stripe import SECRET_KEY, StripeStandIn

__all__ = ["limits"]  # the fixture, used by name

SUCCESS = "https://merchant.example/paid?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://merchant.example/cancelled"
_O = table_of(FundingOrder)
_U = table_of(User)
_MU = table_of(MerchantUser)


def _settings(
    database_url: str, redis_url: str, stripe: StripeStandIn, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "stripe_secret_key": SECRET_KEY,
        "stripe_api_base": stripe.url,
        "stripe_max_network_retries": 0,
        "public_base_url": "http://gateway.test",
        "payment_calls_per_minute": 3,
        "max_open_orders_per_merchant_env": 50,
        **overrides,
    }
    return make_settings(database_url, redis_url, **values)


def _body(**more: Any) -> dict[str, Any]:
    return {"amount_cents": 2500, "success_url": SUCCESS, "cancel_url": CANCEL, **more}


def _made(stripe: StripeStandIn, path: str, method: str = "POST") -> int:
    return sum(1 for m, p in stripe.requests if (m, p) == (method, path))


def _looked(stripe: StripeStandIn) -> int:
    return sum(1 for m, p in stripe.requests if m == "GET" and p.startswith("/v1/checkout/"))


async def _open(db: Database, merchant_id: str, env: str) -> int:
    async with db.read() as conn:
        count = select(func.count()).select_from(_O)
        found = count.where(_O.c.merchant_id == merchant_id, _O.c.env == env)
        return int((await conn.execute(found.where(_O.c.status == "pending"))).scalar_one())


@pytest.fixture
async def api(
    database_url: str, redis_url: str, stripe_stand_in: StripeStandIn, limits: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    settings = _settings(database_url, redis_url, stripe_stand_in)
    async with (
        live_server(settings) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
    ):
        yield http


async def test_concurrent_checkouts_are_limited_per_merchant_and_environment(
    api: httpx.AsyncClient, stripe_stand_in: StripeStandIn, make_merchant: MakeMerchant
) -> None:
    live = await make_merchant("live")
    staging = await make_merchant("staging", merchant_id=live.merchant_id)
    neighbour = await make_merchant("live")
    before = _made(stripe_stand_in, "/v1/checkout/sessions")
    replies = await asyncio.gather(
        *(api.post("/billing/checkout", json=_body(), headers=live.headers) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [201] * 3 + [429] * 7, statuses
    assert {r.json()["code"] for r in replies if r.status_code == 429} == {2208}
    assert all(r.headers["RateLimit-Limit"] == "3" for r in replies)
    assert _made(stripe_stand_in, "/v1/checkout/sessions") - before == 3
    # Staging has a bucket of its own, and another merchant is not held up.
    for other in (staging, neighbour):
        made = await api.post("/billing/checkout", json=_body(), headers=other.headers)
        assert made.status_code == 201, made.text


async def test_checks_returns_and_invoices_count_in_the_same_bucket(
    api: httpx.AsyncClient,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("live")
    made = await api.post("/billing/checkout", json=_body(), headers=merchant.headers)
    assert made.status_code == 201, made.text
    order_id = made.json()["data"]["order_id"]
    looked = _looked(stripe_stand_in)
    checked = await api.post(f"/orders/{order_id}/check", headers=merchant.headers)
    assert checked.status_code == 200, checked.text
    async with db.read() as conn:
        session_id = (
            await conn.execute(select(_O.c.provider_session_id).where(_O.c.id == order_id))
        ).scalar_one()
    back = await api.get(
        "/billing/checkout/return",
        params={"session_id": session_id},
        headers={"Accept": "application/json"},
    )
    assert back.status_code == 200, back.text
    assert _looked(stripe_stand_in) - looked == 2
    # Three calls made: every door is refused now, and Stripe hears of none of them.
    over = await api.post(f"/orders/{order_id}/check", headers=merchant.headers)
    assert (over.status_code, over.json()["code"]) == (429, 2208)
    invoice = {"amount_cents": 2500, "email": "anyone@example.com"}
    refused = await api.post("/billing/invoice", json=invoice, headers=merchant.headers)
    assert (refused.status_code, refused.json()["code"]) == (429, 2208)
    # The payer coming back past the limit goes on to the merchant's page, unchecked.
    again = await api.get("/billing/checkout/return", params={"session_id": session_id})
    assert again.status_code == 303
    assert again.headers["location"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session_id)
    assert _looked(stripe_stand_in) - looked == 2


async def test_the_dashboards_forms_count_in_the_same_bucket(
    database_url: str,
    redis_url: str,
    stripe_stand_in: StripeStandIn,
    limits: Redis,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    settings = _settings(database_url, redis_url, stripe_stand_in)
    async with running_app(settings) as app, dashboard_client(app) as browser:
        owner = await sign_up_on(browser)
        merchant_id = await _merchant_of(db, owner.email)
        key = await make_merchant("staging", merchant_id=merchant_id)
        async with client_at(app, unique_address()) as http:
            for _ in range(2):
                made = await http.post("/billing/checkout", json=_body(), headers=key.headers)
                assert made.status_code == 201, made.text
            form = {"pack_id": "custom", "amount": "25.00", "coupon": ""}
            bought = await owner.post("/wallet/checkout", form, page="/wallet")
            assert bought.status_code == 303, bought.text
            refused = await owner.post("/wallet/checkout", form, page="/wallet")
            assert refused.status_code == 429
            assert "Too many checkouts" in refused.text
            order_id = made.json()["data"]["order_id"]
            check = await owner.post(f"/wallet/orders/{order_id}/check", {}, page="/wallet")
            assert check.status_code == 429
            over = await http.post("/billing/checkout", json=_body(), headers=key.headers)
            assert (over.status_code, over.json()["code"]) == (429, 2208)
    assert await _open(db, merchant_id, "staging") == 3


async def _merchant_of(db: Database, email: str) -> str:
    async with db.read() as conn:
        found = select(_MU.c.merchant_id).join(_U, _U.c.id == _MU.c.user_id)
        return str((await conn.execute(found.where(_U.c.email == email))).scalar_one())


@pytest.mark.parametrize("env", ["staging", "live"])
async def test_open_checkouts_are_capped_exactly_under_concurrency(
    env: str,
    database_url: str,
    redis_url: str,
    stripe_stand_in: StripeStandIn,
    limits: Redis,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    settings = _settings(
        database_url,
        redis_url,
        stripe_stand_in,
        payment_calls_per_minute=100,
        max_open_orders_per_merchant_env=3,
    )
    merchant = await make_merchant(env)
    async with (
        live_server(settings) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
    ):
        replies = await asyncio.gather(
            *(
                http.post("/billing/checkout", json=_body(), headers=merchant.headers)
                for _ in range(12)
            )
        )
        codes = sorted(r.json()["code"] for r in replies)
        assert codes == [1004] * 3 + [4158] * 9, codes
        refused = next(r for r in replies if r.status_code == 409)
        assert refused.json()["data"] == {"limit": 3}
        assert "pay them or let them expire" in refused.json()["message"]
        assert await _open(db, merchant.merchant_id, env) == 3
        # One that expired no longer counts, though no sweep has marked it yet.
        mine = _O.c.merchant_id == merchant.merchant_id
        async with db.transaction() as conn:
            oldest = (
                await conn.execute(select(_O.c.id).where(mine).order_by(_O.c.id).limit(1))
            ).scalar_one()
            past = utcnow() - timedelta(seconds=1)
            await conn.execute(update(_O).where(_O.c.id == oldest).values(expires_at=past))
        again = await http.post("/billing/checkout", json=_body(), headers=merchant.headers)
        assert again.status_code == 201, again.text
        full = await http.post("/billing/checkout", json=_body(), headers=merchant.headers)
        assert full.json()["code"] == 4158


async def test_an_invoice_goes_only_to_the_merchants_own_users(
    api: httpx.AsyncClient,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("live")
    other = await make_merchant("live")
    email = await add_member(db, merchant.merchant_id)
    stranger_member = await add_member(db, other.merchant_id)
    before = _made(stripe_stand_in, "/v1/invoices")
    for address in ("victim@example.com", stranger_member):
        body = {"amount_cents": 2500, "email": address}
        refused = await api.post("/billing/invoice", json=body, headers=merchant.headers)
        assert (refused.status_code, refused.json()["code"]) == (422, 4159), refused.text
    assert _made(stripe_stand_in, "/v1/invoices") == before
    assert await _open(db, merchant.merchant_id, "live") == 0
    body = {"amount_cents": 2500, "email": email.upper()}
    made = await api.post("/billing/invoice", json=body, headers=merchant.headers)
    assert made.status_code == 201, made.text
    assert _made(stripe_stand_in, "/v1/invoices") == before + 1


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("success_url", "http://127.0.0.1:6379/"),
        ("success_url", "https://127.0.0.1/"),
        ("success_url", "https://10.1.2.3/paid"),
        ("cancel_url", "https://169.254.169.254/latest/meta-data/"),
        ("cancel_url", "https://localhost/"),
        ("cancel_url", "https://[::1]/"),
        ("success_url", "http://merchant.example/paid"),  # not https
    ],
)
async def test_live_return_urls_must_be_https_and_public(
    api: httpx.AsyncClient,
    stripe_stand_in: StripeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    field: str,
    url: str,
) -> None:
    merchant = await make_merchant("live")
    before = _made(stripe_stand_in, "/v1/checkout/sessions")
    refused = await api.post(
        "/billing/checkout", json=_body(**{field: url}), headers=merchant.headers
    )
    body = refused.json()
    assert (refused.status_code, body["code"]) == (422, 4160), refused.text
    assert body["data"]["field"] == field
    assert _made(stripe_stand_in, "/v1/checkout/sessions") == before
    assert await _open(db, merchant.merchant_id, "live") == 0


async def test_the_gateways_own_origin_and_staging_loopback_pass(
    database_url: str,
    redis_url: str,
    stripe_stand_in: StripeStandIn,
    limits: Redis,
    make_merchant: MakeMerchant,
) -> None:
    live = await make_merchant("live")
    staging = await make_merchant("staging")
    own = "http://gateway.test/dashboard/wallet?notice=paid"
    loopback = "http://127.0.0.1:8000/back"
    for allowed, merchant, url, code in (
        (False, live, own, 1004),  # AITOPUP_PUBLIC_BASE_URL's origin
        (False, staging, loopback, 4160),
        (True, staging, loopback, 1004),  # as a staging webhook may
        (True, live, loopback, 4160),  # never on live
    ):
        settings = _settings(
            database_url, redis_url, stripe_stand_in, allow_private_webhook_urls=allowed
        )
        async with running_app(settings) as app, client_at(app, unique_address()) as http:
            reply = await http.post(
                "/billing/checkout", json=_body(success_url=url), headers=merchant.headers
            )
            assert reply.json()["code"] == code, (allowed, url, reply.text)


async def _sandbox_order(
    http: httpx.AsyncClient, merchant: MerchantKey, db: Database, stored: str
) -> str:
    """A sandbox order's pay link whose stored success_url is ``stored``, as an order made
    before return URLs were checked may hold."""
    made = await http.post("/billing/checkout", json=_body(), headers=merchant.headers)
    assert made.status_code == 201, made.text
    data = made.json()["data"]
    async with db.transaction() as conn:
        await conn.execute(update(_O).where(_O.c.id == data["order_id"]).values(success_url=stored))
    return str(data["checkout_url"])


async def test_the_sandbox_pays_then_sends_the_payer_only_to_a_checked_url(
    database_url: str,
    redis_url: str,
    stripe_stand_in: StripeStandIn,
    limits: Redis,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("staging")
    settings = _settings(database_url, redis_url, stripe_stand_in)
    async with running_app(settings) as app, client_at(app, unique_address()) as http:
        link = await _sandbox_order(http, merchant, db, "http://127.0.0.1:6379/")
        paid = await http.post(link.replace("?", "/pay?"))
        assert paid.status_code == 200, paid.text  # the envelope, no redirect
        assert paid.json()["status"] == "completed"
        assert "location" not in paid.headers
        link = await _sandbox_order(http, merchant, db, SUCCESS)
        paid = await http.post(link.replace("?", "/pay?"))
        assert paid.status_code == 303
        assert paid.headers["location"].startswith("https://merchant.example/paid?session=ord_")
