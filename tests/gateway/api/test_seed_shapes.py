"""Where the product serves a path other APIs also answer, their field names stand beside the
product's integer cents (never instead): a pack's ``price`` and a history entry's
``amount_paid`` (prepaid packs), the balance's ``balance`` and a transaction's ``amount`` (a
credits billing API), each the cents as decimal currency, in the reply and in the OpenAPI
document."""

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from gateway.app import create_app
from gateway.ops.routing import ApiRoute
from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.merchants import MakeMerchant, add_member
from tests.fixtures.openapi import reply_of
from tests.fixtures.subscriptions import MakePlan

SEND = {"platform": "claude", "amount_cents": 150, "recipient_email": "s@example.com"}


def _decimal_of(cents: int) -> float:
    return cents / 100


async def test_packs_answer_price_beside_price_cents(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    packs = (await client.get("/topup/packs", headers=merchant.headers)).json()["data"]
    assert packs
    for pack in packs:
        assert {"id", "name", "price", "currency", "credits", "popular"} <= set(pack)
        assert pack["price"] == _decimal_of(pack["price_cents"])
    pro = next(p for p in packs if p["id"] == "pack_pro")
    assert (pro["price"], pro["price_cents"], pro["credits"]) == (20.0, 2000, 25_000)


async def test_balance_and_transactions_answer_balance_and_amount(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    sent = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200, sent.text
    balance = (await client.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance"] == _decimal_of(balance["balance_cents"])
    entries = (await client.get("/billing/transactions", headers=merchant.headers)).json()["data"]
    assert [e["amount"] for e in entries] == [_decimal_of(e["amount_cents"]) for e in entries]
    assert -1.5 in [e["amount"] for e in entries]  # the send's debit, a negative amount


async def test_the_history_answers_amount_paid_as_paid(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    made = await client.post(
        "/billing/checkout", json={"pack_id": "pack_pro"}, headers=merchant.headers
    )
    assert made.status_code == 201, made.text
    [pending] = (await client.get("/billing/history", headers=merchant.headers)).json()["data"]
    assert (pending["amount_paid"], pending["amount_paid_cents"]) == (0.0, 0)
    url = made.json()["data"]["checkout_url"]
    assert (await client.post(url.replace("?", "/pay?"))).status_code == 303
    [paid] = (await client.get("/billing/history", headers=merchant.headers)).json()["data"]
    assert (paid["amount_paid"], paid["amount_paid_cents"], paid["status"]) == (
        20.0,
        2000,
        "completed",
    )


async def test_the_openapi_document_describes_each_beside_its_cents(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for model, name, cents in (
        ("PackData", "price", "price_cents"),
        ("HistoryItem", "amount_paid", "amount_paid_cents"),
        ("LedgerItem", "amount", "amount_cents"),
        ("BalanceData", "balance", "balance_cents"),
    ):
        field = schemas[model]["properties"][name]
        assert field["type"] == "number" and cents in field["description"], (model, field)
        assert name in schemas[model]["required"]


async def test_an_order_is_created_from_a_form_with_product_id_and_answers_order_no(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    """As an order-creating API's clients post it: a form, the pack named ``product_id``; the
    answer's ``order_no`` is its ``order_id``."""
    merchant = await make_merchant("staging")
    made = await client.post(
        "/billing/checkout",
        content=b"product_id=pack_pro&success_url=https%3A%2F%2Fshop.example%2Fpaid",
        headers={**merchant.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert made.status_code == 201, made.text
    data = made.json()["data"]
    assert data["order_no"] == data["order_id"] and data["pack_id"] == "pack_pro"
    assert data["price_cents"] == 2000
    # A form of a custom amount: its integer read from the text.
    custom = await client.post(
        "/billing/checkout",
        data={"amount_cents": "1500"},
        headers=merchant.headers,
    )
    assert custom.status_code == 201, custom.text
    assert custom.json()["data"]["amount_cents"] == 1500


async def test_a_bad_form_is_refused_with_its_code_and_changes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    form = {**merchant.headers, "Content-Type": "application/x-www-form-urlencoded"}
    for body, code in (
        (b"product_id=pack_pro&product_id=pack_starter", 4610),  # a field twice
        (b"product_id=%FF", 4610),  # not UTF-8
        (b"product_id", 4610),  # not a form
        (b"product_id=pack%00pro", 3103),
        (b"amount_cents=12.5", 3001),
        (b"pack_id=pack_pro&product_id=pack_starter", 3001),
        (b"pack_id=pack_pro&what=1", 3001),
    ):
        refused = await client.post("/billing/checkout", content=body, headers=form)
        assert refused.json()["code"] == code, (body, refused.text)
        assert 400 <= refused.status_code < 500
    # Forms only where a route takes them: a send still wants JSON.
    send = await client.post("/topup/send", content=b"platform=claude", headers=form)
    assert (send.status_code, send.json()["code"]) == (415, 3003)
    history = (await client.get("/billing/history", headers=merchant.headers)).json()["data"]
    assert history == []


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# The open-API paths other APIs' clients post forms to: seed 004's order, invoice order and fee
# charge, and the payment session and portal of the credits billing API.
FORM_PATHS = {
    "/api/public/v1/billing/checkout",
    "/api/public/v1/billing/invoice",
    "/api/public/v1/charges",
    "/api/public/v1/payment/create-session",
    "/api/public/v1/subscription/portal",
}


async def test_an_invoice_order_is_created_from_a_form(
    sub_api: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """Seed 004's Stripe invoice order, posted as a form: its days a number as in JSON."""
    live = await make_merchant("live")
    email = await add_member(db, live.merchant_id)
    made = await sub_api.post(
        "/billing/invoice",
        data={"product_id": "pack_pro", "email": email, "days_until_due": "14"},
        headers=live.headers,
    )
    # No product_id here: the invoice names its pack pack_id, and a field it does not know is
    # refused as in JSON.
    assert (made.status_code, made.json()["code"]) == (422, 3001), made.text
    made = await sub_api.post(
        "/billing/invoice",
        data={"pack_id": "pack_pro", "email": email, "days_until_due": "14"},
        headers=live.headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["data"]["kind"] == "invoice"
    for days in ("14.5", "91", "fourteen"):
        refused = await sub_api.post(
            "/billing/invoice",
            data={"pack_id": "pack_pro", "email": email, "days_until_due": days},
            headers=live.headers,
        )
        assert refused.json()["code"] == 3001, (days, refused.text)
        assert [e["loc"] for e in refused.json()["data"]["errors"]] == [["days_until_due"]]


async def test_a_payment_session_and_a_portal_are_asked_for_by_form(
    sub_api: httpx.AsyncClient, make_merchant: MakeMerchant, make_plan: MakePlan
) -> None:
    plan = await make_plan("staging")
    merchant = await make_merchant("staging")
    made = await sub_api.post(
        "/payment/create-session",
        content=f"channel=sandbox&type=subscription&plan_id={plan['id']}&interval=year".encode(),
        headers={**merchant.headers, **FORM},
    )
    assert made.status_code == 201, made.text
    assert (made.json()["data"]["type"], made.json()["data"]["interval"]) == (
        "subscription",
        "year",
    )
    wrong = await sub_api.post(
        "/payment/create-session",
        data={"channel": "sandbox", "type": "gift", "plan_id": plan["id"]},
        headers=merchant.headers,
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, 3001)
    portal = await sub_api.post(
        "/subscription/portal",
        data={"return_url": "https://merchant.example/back"},
        headers=merchant.headers,
    )
    # Read as a form: the merchant's checkout is still open, the operation's own refusal.
    assert portal.json()["code"] not in (3001, 3003, 4610), portal.text
    not_absolute = await sub_api.post(
        "/subscription/portal", data={"return_url": "/back"}, headers=merchant.headers
    )
    assert not_absolute.json()["code"] == 3001
    twice = await sub_api.post(
        "/subscription/portal",
        content=b"return_url=https%3A%2F%2Fa.example&return_url=https%3A%2F%2Fb.example",
        headers={**merchant.headers, **FORM},
    )
    assert (twice.status_code, twice.json()["code"]) == (400, 4610)


def test_every_route_that_takes_a_form_says_so_in_one_place(settings: Settings) -> None:
    """The routes that read a form are the routes described as taking one."""
    described = {
        path
        for path, route in _api_routes(settings)
        if isinstance(route, ApiRoute) and route.doc.forms
    }
    assert described == FORM_PATHS


def _api_routes(settings: Settings) -> list[tuple[str, Route]]:
    found: list[tuple[str, Route]] = []
    pending: list[tuple[str, BaseRoute]] = [("", r) for r in create_app(settings).routes]
    while pending:
        prefix, route = pending.pop()
        if isinstance(route, Mount):
            pending += [(prefix + route.path, r) for r in route.routes]
        elif isinstance(route, Route):
            found.append((prefix + route.path, route))
    return found


@pytest.mark.parametrize("path", sorted(FORM_PATHS))
async def test_the_openapi_document_lists_the_form_where_one_is_taken(
    client: httpx.AsyncClient, path: str
) -> None:
    spec = (await client.get("/openapi.json")).json()
    post = spec["paths"][path]["post"]
    content = post["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
    assert content["application/json"] == content["application/x-www-form-urlencoded"]
    assert "4610" in reply_of(spec, post, "400")["description"]
    send = spec["paths"]["/api/public/v1/topup/send"]["post"]
    assert set(send["requestBody"]["content"]) == {"application/json"}


async def test_the_openapi_document_takes_a_form_and_product_id_on_order_creation(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/api/public/v1/billing/checkout"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-www-form-urlencoded"}
    schemas = spec["components"]["schemas"]
    assert "product_id" in schemas["CheckoutRequest"]["properties"]
    assert "order_no" in schemas["CheckoutData"]["required"]
