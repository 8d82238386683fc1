"""New API's own top-up paths (``/api/user/...``): New API's shapes, the gateway's operations.

The shapes are checked against New API's documented examples, written down here as fixtures:

- ``DOCUMENTED``: the fields and types of the four replies as New API's payment API reference
  documents them (doc.hitopen.com/api-reference/management/payment: "success boolean, data
  object" for the top-up info; "success boolean, data string: the payment URL" for a payment;
  "success boolean, message string" for a redemption; "success boolean, data" for the history).
- ``NEW_API_FIELDS``: the fields and JSON types of ``data`` as New API's own server answers them
  (github.com/QuantumNous/new-api: ``controller/topup.go`` ``GetTopUpInfo``, ``model/topup.go``
  ``TopUp``, ``common/page_info.go`` ``PageInfo``, and a redemption's ``data``, the quota, in
  ``controller/user.go`` ``TopUp``). Where the two differ, the server's wins, since it is what
  New API's clients parse: the history's ``data`` is a page (``items``, ``total``), not a bare
  array as the reference's summary says.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from starlette.types import ASGIApp

from gateway.billing import newapi
from gateway.billing.channels.schemas import ChannelInfo
from gateway.billing.schemas import TopupInfo
from gateway.store.engine import Database
from gateway.store.models import PaymentChannel, table_of
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.billing import PUBLIC_BASE
from tests.fixtures.core import asgi_client, local_client, make_settings, running_app
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.rows import row_counts
from tests.fixtures.stripe import StripeStandIn

# The documented examples' fields (doc.hitopen.com, see above): name → JSON type.
DOCUMENTED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "info": {"success": bool, "data": dict},
    "pay": {"success": bool, "data": str},
    "topup": {"success": bool, "message": str},
    "self": {"success": bool, "data": dict},
}
# New API's own ``data`` (github.com/QuantumNous/new-api, see above): name → JSON type.
NEW_API_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "info": {
        "enable_online_topup": bool,
        "enable_stripe_topup": bool,
        "enable_creem_topup": bool,
        "enable_redemption": bool,
        "pay_methods": list,
        "min_topup": int,
        "stripe_min_topup": int,
        "amount_options": list,
        "discount": dict,
        "creem_products": str,
        "topup_link": str,
    },
    "pay_method": {"name": str, "type": str, "color": str, "min_topup": str},
    "page": {"page": int, "page_size": int, "total": int, "items": list},
    "topup": {
        "id": int,
        "user_id": int,
        "amount": int,
        "money": (int, float),
        "trade_no": str,
        "payment_method": str,
        "payment_provider": str,
        "create_time": int,
        "complete_time": int,
        "status": str,
    },
}
# New API's states of a top-up.
NEW_API_STATUSES = {"pending", "success", "failed", "expired"}


def assert_shaped(found: dict[str, Any], fields: dict[str, type | tuple[type, ...]]) -> None:
    for name, kind in fields.items():
        assert name in found, f"{name} missing from {found}"
        value = found[name]
        assert isinstance(value, kind) and not (kind is int and isinstance(value, bool)), (
            f"{name}: {value!r} is not {kind}"
        )


def assert_refused(reply: httpx.Response, status: int = 200) -> str:
    """A refusal in New API's shape: ``success`` false and a message, nothing else needed."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    assert "code" not in body  # New API's shape, not the envelope
    message: str = body["message"]
    return message


@pytest.fixture
async def root(billing_app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(billing_app, PUBLIC_BASE) as http:
        yield http


async def mint(admin: httpx.AsyncClient, env: str, amount_cents: int, count: int = 1) -> list[str]:
    body = {"count": count, "amount_cents": amount_cents, "env": env}
    reply = await admin.post("/redemption-codes", json=body)
    assert reply.status_code == 201, reply.text
    codes: list[str] = reply.json()["data"]["codes"]
    return codes


async def orders_of(root: httpx.AsyncClient, merchant: MerchantKey) -> list[dict[str, Any]]:
    reply = await root.get("/api/public/v1/orders", headers=merchant.headers)
    found: list[dict[str, Any]] = reply.json()["data"]
    return found


async def test_topup_info_in_new_api_shape(
    root: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    reply = await root.get("/api/user/topup/info", headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert_shaped(body, DOCUMENTED["info"])
    assert body["success"] is True and body["message"] == ""
    data = body["data"]
    assert_shaped(data, NEW_API_FIELDS["info"])
    # The settings' default: custom amounts from 500 cents in steps of 100, through the sandbox.
    assert (data["min_topup"], data["stripe_min_topup"]) == (5, 5)
    assert data["amount_options"] == [10, 20, 50, 100, 500]
    assert data["enable_stripe_topup"] is True and data["enable_online_topup"] is False
    assert data["enable_redemption"] is True
    [method] = data["pay_methods"]
    assert_shaped(method, NEW_API_FIELDS["pay_method"])
    assert (method["type"], method["min_topup"]) == ("stripe", "5")
    assert data["discount"] == {}
    assert data["topup_link"] == f"{PUBLIC_BASE}/dashboard/wallet"


async def test_pay_opens_the_checkout_and_the_history_follows_it_to_success(
    root: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging")
    start = await merchant_balance(db, merchant)
    # New API's own clients send top_up_code beside the amount; it is ignored, as there.
    body = {"amount": 12, "payment_method": "stripe", "top_up_code": ""}
    reply = await root.post("/api/user/pay", json=body, headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    paid = reply.json()
    assert_shaped(paid, DOCUMENTED["pay"])
    assert (paid["success"], paid["message"]) == (True, "success")
    assert paid["url"] == paid["data"]
    assert paid["data"].startswith(f"{PUBLIC_BASE}/api/public/v1/billing/sandbox/checkout/ord_")

    [order] = await orders_of(root, merchant)
    assert (order["provider"], order["credit_cents"], order["status"]) == (
        "sandbox",
        1200,
        "pending",
    )
    page = (await root.get("/api/user/topup/self", headers=merchant.headers)).json()
    [item] = page["data"]["items"]
    assert_shaped(item, NEW_API_FIELDS["topup"])
    assert item["trade_no"] == order["id"]
    assert (item["amount"], item["money"], item["status"]) == (12, 12.0, "pending")
    assert (item["payment_method"], item["payment_provider"]) == ("stripe", "sandbox")
    assert item["complete_time"] == 0 and item["create_time"] > 0

    # The payer pays in the sandbox: the order is the gateway's own, credited once.
    sandbox = await root.post(
        paid["data"].replace("?", "/pay?"), headers={"Accept": "application/json"}
    )
    assert sandbox.status_code == 200, sandbox.text
    assert await merchant_balance(db, merchant) == start + 1200
    page = (await root.get("/api/user/topup/self", headers=merchant.headers)).json()
    [item] = page["data"]["items"]
    assert item["status"] == "success" and item["complete_time"] >= item["create_time"]
    await assert_ledger_balanced(db)


async def test_redeem_answers_the_quota_and_the_history_pages_as_new_api_does(
    root: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("live")
    codes = await mint(admin_client, "live", 250, count=5)
    for code in codes:
        reply = await root.post("/api/user/topup", json={"key": code}, headers=merchant.headers)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert_shaped(body, DOCUMENTED["topup"])
        # $2.50 is 1,250,000 quota at New API's 500,000 a dollar; the message says so too.
        assert (body["success"], body["data"]) == (True, 1_250_000)
        assert "1250000" in body["message"] and "$2.50" in body["message"]
    assert await merchant_balance(db, merchant) == 1250

    seen: list[dict[str, Any]] = []
    for p in (1, 2, 3):
        reply = await root.get(
            "/api/user/topup/self", params={"p": p, "page_size": 2}, headers=merchant.headers
        )
        body = reply.json()
        assert_shaped(body, DOCUMENTED["self"])
        assert_shaped(body["data"], NEW_API_FIELDS["page"])
        assert (body["data"]["page"], body["data"]["page_size"], body["data"]["total"]) == (p, 2, 5)
        seen += body["data"]["items"]
    # Newest first; each order's id its place among the merchant's orders, oldest 1.
    assert [item["id"] for item in seen] == [5, 4, 3, 2, 1]
    assert [item["trade_no"] for item in seen] == [o["id"] for o in await orders_of(root, merchant)]
    for item in seen:
        assert_shaped(item, NEW_API_FIELDS["topup"])
        assert item["status"] in NEW_API_STATUSES
        assert (item["amount"], item["money"], item["status"]) == (2, 0.0, "success")
        assert item["payment_method"] == item["payment_provider"] == "redemption"
    # New API's default page is 10.
    default = (await root.get("/api/user/topup/self", headers=merchant.headers)).json()["data"]
    assert (default["page"], default["page_size"], len(default["items"])) == (1, 10, 5)


BAD_PAYMENTS: list[tuple[str, Any]] = [
    ("amount as text", {"amount": "10"}),
    ("fractional amount", {"amount": 10.5}),
    ("boolean amount", {"amount": True}),
    ("no amount", {"payment_method": "stripe"}),
    ("zero", {"amount": 0}),
    ("below the minimum", {"amount": 1}),
    ("above the maximum", {"amount": 999_999}),
    ("a method not enabled", {"amount": 10, "payment_method": "alipay"}),
    ("a method of no channel", {"amount": 10, "payment_method": "paypal"}),
    ("an overlong method", {"amount": 10, "payment_method": "x" * 33}),
    ("not an object", [1, 2]),
]


async def test_bad_input_is_refused_in_new_api_shape_and_changes_nothing(
    root: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("staging")
    start = await merchant_balance(db, merchant)
    for what, body in BAD_PAYMENTS:
        reply = await root.post("/api/user/pay", json=body, headers=merchant.headers)
        message = assert_refused(reply)
        # New API's clients of this path read the reason in data.
        assert reply.json()["data"] == message, what
    not_json = await root.post(
        "/api/user/pay",
        content=b"amount=10",
        headers={**merchant.headers, "Content-Type": "text/plain"},
    )
    assert_refused(not_json)
    broken = await root.post(
        "/api/user/pay",
        content=b'{"amount": 10',
        headers={**merchant.headers, "Content-Type": "application/json"},
    )
    assert_refused(broken)

    [live_code] = await mint(admin_client, "live", 300)
    for body in (
        {"key": ""},
        {"key": 123},
        {},
        {"key": "RDM-2222-3333-4444-5555"},
        {"key": live_code},
    ):
        reply = await root.post("/api/user/topup", json=body, headers=merchant.headers)
        assert_refused(reply)
        assert "data" not in reply.json()

    for params in (
        {"p": 0},
        {"p": "two"},
        {"page_size": 101},
        {"page_size": 0},
        {"keyword": "ord"},
    ):
        reply = await root.get("/api/user/topup/self", params=params, headers=merchant.headers)
        assert_refused(reply)

    for path, method in (
        ("/api/user/topup/info", "GET"),
        ("/api/user/pay", "POST"),
        ("/api/user/topup", "POST"),
        ("/api/user/topup/self", "GET"),
    ):
        missing = await root.request(method, path, json={"amount": 10})
        assert_refused(missing, 401)
        assert missing.headers["www-authenticate"].startswith('Bearer resource_metadata="')
        forged = await root.request(
            method,
            path,
            json={"amount": 10},
            headers={"Authorization": "Bearer ak_staging_" + "0" * 32},
        )
        assert_refused(forged, 401)
        # New API takes a bare token too; the gateway's doors take a key as a Bearer only.
        bare = await root.request(
            method, path, json={"amount": 10}, headers={"Authorization": merchant.key}
        )
        assert_refused(bare, 401)

    assert await orders_of(root, merchant) == []
    assert await merchant_balance(db, merchant) == start


@pytest.mark.both_stores
async def test_a_nul_is_refused_in_new_api_shape_and_changes_nothing(
    root: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """PostgreSQL cannot store a NUL: refused where the body or the query is read, in New API's
    shape (3103 behind it), whatever the field."""
    merchant = await make_merchant("staging")
    before = await row_counts(db)
    for path, body in (
        ("/api/user/pay", {"amount": 10, "payment_method": "alipay\x00"}),
        ("/api/user/topup", {"key": "RDM-\x00"}),
    ):
        reply = await root.post(path, json=body, headers=merchant.headers)
        assert "NUL" in assert_refused(reply), path
    listed = await root.get(
        "/api/user/topup/self", params={"keyword": "ord\x00"}, headers=merchant.headers
    )
    assert "NUL" in assert_refused(listed)
    assert await row_counts(db) == before


async def test_a_key_without_the_billing_scope_is_refused(
    root: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("staging")
    made = await root.post("/api/public/v1/keys", json={}, headers=owner.headers)
    assert made.status_code == 201, made.text
    agent = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    info = await root.get("/api/user/topup/info", headers=agent)
    message = assert_refused(info, 403)
    assert "scope" in message.lower()
    # The scope challenge, as on the REST API: the scope needed, then the key's own.
    assert info.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="billing topup:send topup:read", '
        f'resource_metadata="{PUBLIC_BASE}/.well-known/oauth-protected-resource/api/public/v1"'
    )
    assert_refused(await root.post("/api/user/pay", json={"amount": 10}, headers=agent), 403)
    assert await orders_of(root, owner) == []


async def test_a_staging_key_sees_only_staging(
    root: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live", merchant_id=staging.merchant_id)
    [live_code] = await mint(admin_client, "live", 400)
    redeemed = await root.post("/api/user/topup", json={"key": live_code}, headers=live.headers)
    assert redeemed.json()["success"] is True
    paid = await root.post("/api/user/pay", json={"amount": 7}, headers=staging.headers)
    assert paid.json()["success"] is True

    async def listed(key: MerchantKey) -> list[tuple[str, str]]:
        page = (await root.get("/api/user/topup/self", headers=key.headers)).json()["data"]
        return [(item["payment_provider"], item["status"]) for item in page["items"]]

    assert await listed(staging) == [("sandbox", "pending")]
    assert await listed(live) == [("redemption", "success")]
    info = (await root.get("/api/user/topup/info", headers=live.headers)).json()["data"]
    # Live pays through Stripe here (configured); staging through the sandbox, never Stripe.
    assert info["enable_stripe_topup"] is True


@pytest.mark.both_stores
async def test_a_code_redeemed_twice_at_once_credits_once(
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    billing_live_url: str,
    db: Database,
) -> None:
    merchant = await make_merchant("live")
    [code] = await mint(admin_client, "live", 1234)
    async with local_client(base_url=billing_live_url, timeout=30) as http:
        replies = await asyncio.gather(
            *(
                http.post("/api/user/topup", json={"key": code}, headers=merchant.headers)
                for _ in range(8)
            )
        )
    bodies = [r.json() for r in replies]
    assert all(r.status_code == 200 for r in replies), bodies
    won = [b for b in bodies if b["success"]]
    assert len(won) == 1 and won[0]["data"] == 1234 * 5000, bodies
    assert all(b["message"] for b in bodies if not b["success"])
    assert await merchant_balance(db, merchant) == 1234
    await assert_ledger_balanced(db)


async def test_the_agents_guide_names_the_four_paths(root: httpx.AsyncClient) -> None:
    text = (await root.get("/llms.txt")).text
    for line in (
        "GET /api/user/topup/info",
        "POST /api/user/pay",
        "POST /api/user/topup",
        "GET /api/user/topup/self",
    ):
        assert line in text
    assert "## New API's top-up paths" in text


@pytest.fixture
async def epay_in_staging(admin_client: httpx.AsyncClient, db: Database) -> AsyncIterator[None]:
    """Epay enabled in staging by the operator for the test, and the setting put back after
    (no row, as before), so the rest of the session sees the providers' defaults."""
    async with db.read() as conn:
        before = (await conn.execute(select(_CH).where(*_EPAY_STAGING))).first()
    reply = await admin_client.put("/billing/channels/epay/staging", json={"enabled": True})
    assert reply.status_code == 200, reply.text
    yield
    async with db.transaction() as conn:
        if before is None:
            await conn.execute(delete(_CH).where(*_EPAY_STAGING))
        else:
            await conn.execute(update(_CH).where(*_EPAY_STAGING).values(enabled=before.enabled))


_CH = table_of(PaymentChannel)
_EPAY_STAGING = (_CH.c.channel == "epay", _CH.c.env == "staging")


@pytest.mark.usefixtures("epay_in_staging")
async def test_an_epay_type_pays_through_epay_on_the_sandbox_page_in_staging(
    root: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    info = (await root.get("/api/user/topup/info", headers=merchant.headers)).json()["data"]
    assert [m["type"] for m in info["pay_methods"]] == ["stripe", "alipay", "wxpay"]
    assert info["enable_online_topup"] is True

    body = {"amount": 10, "payment_method": "alipay"}
    paid = (await root.post("/api/user/pay", json=body, headers=merchant.headers)).json()
    assert paid["success"] is True, paid
    assert paid["data"].startswith(f"{PUBLIC_BASE}/api/public/v1/billing/sandbox/checkout/ord_")
    page = await root.get(paid["data"])
    assert page.status_code == 200 and "Epay checkout" in page.text
    [order] = await orders_of(root, merchant)
    assert (order["provider"], order["channel"], order["credit_cents"]) == (
        "sandbox",
        "epay",
        1000,
    )
    history = (await root.get("/api/user/topup/self", headers=merchant.headers)).json()
    [item] = history["data"]["items"]
    assert (item["payment_method"], item["payment_provider"]) == ("epay", "sandbox")


@pytest.mark.parametrize(
    ("method", "channel", "epay_type"),
    [
        (None, "stripe", None),
        ("", "stripe", None),
        ("stripe", "stripe", None),
        ("creem", "creem", None),
        ("alipay", "epay", "alipay"),
        ("wxpay", "epay", "wxpay"),
    ],
)
def test_a_payment_method_names_a_channel(
    method: str | None, channel: str, epay_type: str | None
) -> None:
    named = newapi.channel_of(method)
    assert (named.channel, named.epay_type) == (channel, epay_type)


def test_a_payment_method_of_no_channel_is_an_unknown_channel() -> None:
    with pytest.raises(ApiError) as refused:
        newapi.channel_of("paypal")
    assert refused.value.code == Code.PAYMENT_CHANNEL_UNKNOWN


def _channel(name: str) -> ChannelInfo:
    return ChannelInfo(
        channel=name, title=name, kinds=["checkout"], subscriptions=False, through=name
    )


@pytest.mark.parametrize(
    ("channels", "methods", "online"),
    [
        (["sandbox", "stripe"], ["stripe"], False),
        (["stripe", "epay"], ["stripe", "alipay", "wxpay"], True),
        (["creem", "myfatoorah"], ["creem"], False),
        (["sandbox"], [], False),
        ([], [], False),
    ],
)
def test_the_methods_offered_are_those_of_the_channels_on_here(
    channels: list[str], methods: list[str], online: bool
) -> None:
    settings = make_settings("sqlite+aiosqlite:///unused.db", "redis://127.0.0.1:1/0")
    offer = _offer(channels=[_channel(name) for name in channels])
    found = newapi.info(offer, settings)
    assert [m.type for m in found.pay_methods] == methods
    assert found.enable_online_topup is online
    assert found.enable_stripe_topup is ("stripe" in methods)
    assert found.enable_creem_topup is ("creem" in methods)


def _offer(**fields: Any) -> TopupInfo:
    return TopupInfo(
        **{
            "env": "live",
            "currency": "USD",
            "packs": [],
            "custom_amounts": True,
            "min_cents": 500,
            "max_cents": 1_000_000,
            "step_cents": 100,
            "amount_options": [],
            "discount_tiers": [],
            "providers": [],
            "channels": [],
            "redemption": True,
            "wallet_url": "https://gateway.example/dashboard/wallet",
            **fields,
        }
    )


def test_the_offer_in_new_api_units_reads_the_discount_tiers() -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db",
        "redis://127.0.0.1:1/0",
        funding_discount_tiers="10000:5,50000:10",
        funding_min_cents=550,
    )
    offer = _offer(
        min_cents=550,
        step_cents=50,
        amount_options=[1000, 1050, 10000, 50000],
        providers=["stripe", "stripe_invoice"],
        channels=[_channel("stripe")],
        redemption=False,
    )
    found = newapi.info(offer, settings)
    # $5.50 is not a whole dollar: the least whole amount is 6; $10.50 is no option in dollars.
    assert (found.min_topup, found.amount_options) == (6, [10, 100, 500])
    assert found.discount == {"100": 0.95, "500": 0.9}
    assert found.enable_redemption is False
    off = newapi.info(offer.model_copy(update={"custom_amounts": False}), settings)
    assert off.pay_methods == [] and off.enable_stripe_topup is False
    assert (newapi.cents_of(12), newapi.quota_of(250)) == (1200, 1_250_000)


@pytest.fixture
async def stood_in(stripe_stood_in_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with Stripe stood in on 127.0.0.1, and discount tiers 10000:5,50000:10."""
    async with (
        running_app(stripe_stood_in_settings) as app,
        asgi_client(app, "http://gateway.test") as http,
    ):
        yield http


async def test_live_pay_is_a_stripe_checkout_with_its_tier_credited_once(
    stood_in: httpx.AsyncClient, stripe_stand_in: StripeStandIn, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    info = (await stood_in.get("/api/user/topup/info", headers=merchant.headers)).json()["data"]
    assert info["discount"] == {"100": 0.95, "500": 0.9}
    assert [m["type"] for m in info["pay_methods"]] == ["stripe"]

    reply = await stood_in.post("/api/user/pay", json={"amount": 100}, headers=merchant.headers)
    paid = reply.json()
    assert paid["success"] is True, paid
    [order] = (await stood_in.get("/api/public/v1/orders", headers=merchant.headers)).json()["data"]
    session = stripe_stand_in.session_of(order["id"])
    assert paid["data"] == paid["url"] == session["url"]
    # $100 reaches the 5% tier: Stripe charges 9,500 cents, the wallet gets 10,000.
    assert session["amount_total"] == 9_500 and order["credit_cents"] == 10_000

    stripe_stand_in.pay(session["id"])
    checked = await stood_in.post(
        f"/api/public/v1/orders/{order['id']}/check", headers=merchant.headers
    )
    assert checked.json()["data"]["result"] == "credited"
    again = await stood_in.post(
        f"/api/public/v1/orders/{order['id']}/check", headers=merchant.headers
    )
    assert again.json()["data"]["result"] != "credited"
    page = (await stood_in.get("/api/user/topup/self", headers=merchant.headers)).json()["data"]
    [item] = page["items"]
    assert (item["amount"], item["money"], item["status"]) == (100, 95.0, "success")
    assert (item["payment_method"], item["payment_provider"]) == ("stripe", "stripe")
    balance = await stood_in.get("/api/public/v1/balance", headers=merchant.headers)
    assert balance.json()["data"]["balance_cents"] == 10_000
