"""Where the product serves a path other APIs also answer, their field names stand beside the
product's integer cents (never instead): a pack's ``price`` and a history entry's
``amount_paid`` (prepaid packs), the balance's ``balance`` and a transaction's ``amount`` (a
credits billing API), each the cents as decimal currency, in the reply and in the OpenAPI
document."""

import httpx

from tests.fixtures.merchants import MakeMerchant

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
    # Forms only where a route takes them: the invoice route still wants JSON.
    invoice = await client.post("/billing/invoice", content=b"pack_id=pack_pro", headers=form)
    assert (invoice.status_code, invoice.json()["code"]) == (415, 3003)
    history = (await client.get("/billing/history", headers=merchant.headers)).json()["data"]
    assert history == []


async def test_the_openapi_document_takes_a_form_and_product_id_on_order_creation(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/api/public/v1/billing/checkout"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-www-form-urlencoded"}
    schemas = spec["components"]["schemas"]
    assert "product_id" in schemas["CheckoutRequest"]["properties"]
    assert "order_no" in schemas["CheckoutData"]["required"]
