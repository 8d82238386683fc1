"""A third protocol: a made-up one (a module in ``tests/fixtures/tally_pay.py`` and one registry
line, ``registry.registered``) is offered on a send's refusal for funds, an app's charge's and
MCP's ``send_topup``'s, and its credential on the retry pays once, credited as an order of its
channel, then the request runs, with no other change to the product. What it adds besides, a
route of its own and a process beside ``make run``, is asked of the registry too."""

import uuid
from typing import Any, cast

import httpx
import pytest
from mcp import MCPError, types
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.protocols import registry
from gateway.protocols.base import MCP_PAYMENT_REQUIRED
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, table_of
from gateway.values.settings import Settings
from tests.fixtures.charges import FEE, paying_consent
from tests.fixtures.core import asgi_client, live_server, running_app
from tests.fixtures.mcp import McpCall, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant, merchant_balance, set_balance
from tests.fixtures.tally_pay import (
    CLERK,
    CLERK_URL,
    CREDENTIAL_HEADER,
    META_CREDENTIAL,
    META_RECEIPT,
    OFFER_HEADER,
    RECEIPT_HEADER,
    TALLY,
    TERMS_PATH,
    TallyReceiver,
)

_O = table_of(FundingOrder)


async def _orders(db: Database, merchant_id: str) -> list[Any]:
    async with db.read() as conn:
        found = await conn.execute(select(_O).where(_O.c.merchant_id == merchant_id))
        return list(found)


async def _paid_once(db: Database, merchant_id: str, tally: TallyReceiver, cents: int) -> str:
    """The one order the payment wrote, of the made-up channel, completed; its id."""
    [order] = await _orders(db, merchant_id)
    assert (order.provider, order.channel, order.kind) == (TALLY, TALLY, "agent")
    assert (order.status, order.credit_cents) == ("completed", cents)
    assert tally.money.taken == [(order.id, cents)]
    return str(order.id)


async def test_a_send_refused_for_funds_is_paid_in_a_third_protocol(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    with registry.registered(TallyReceiver()) as registered:
        tally = cast(TallyReceiver, registered)
        merchant = await make_merchant("staging", balance_cents=0)
        body = {
            "platform": "claude",
            "recipient_email": f"tally-{uuid.uuid4().hex[:8]}@example.com",
            "amount_cents": 650,
        }
        headers = {**merchant.headers, "Idempotency-Key": "tally-send-1"}
        refused = await client.post("/topup/send", json=body, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (402, 4001)
        offer = refused.headers[OFFER_HEADER]
        assert tally.money.taken == []

        paying = {**headers, CREDENTIAL_HEADER: offer}
        paid = await client.post("/topup/send", json=body, headers=paying)
        assert (paid.status_code, paid.json()["code"]) == (200, 1001), paid.text
        payment = paid.json()["data"]["payment"]
        assert payment["amount_cents"] == 700  # 650 short, rounded up to the step
        assert paid.headers[RECEIPT_HEADER] == payment["reference"]

        # The same credential again: the key answers the send, nothing is taken twice.
        again = await client.post("/topup/send", json=body, headers=paying)
        assert (again.json()["code"], again.headers["idempotent-replayed"]) == (1001, "true")
        order_id = await _paid_once(db, merchant.merchant_id, tally, 700)
        assert payment["order_id"] == order_id
        assert await merchant_balance(db, merchant) == 700 - 650
    assert registry.get(TALLY) is None


async def test_an_apps_charge_refused_for_funds_is_paid_in_a_third_protocol(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    with registry.registered(TallyReceiver()) as registered:
        tally = cast(TallyReceiver, registered)
        paying = await paying_consent(app, client, make_merchant)
        async with db.transaction() as conn:
            await set_balance(conn, db, "staging", paying.payer.merchant_id, 0)
        refused = await client.post("/charges", json=FEE, headers=paying.headers("tally-seat"))
        assert (refused.status_code, refused.json()["code"]) == (402, 4001)
        offer = refused.headers[OFFER_HEADER]

        headers = {**paying.headers("tally-seat"), CREDENTIAL_HEADER: offer}
        made = await client.post("/charges", json=FEE, headers=headers)
        assert made.status_code == 201, made.text
        payment = made.json()["data"]["payment"]
        assert payment["amount_cents"] == 500  # 100 short, at least the smallest top-up
        assert made.headers[RECEIPT_HEADER] == payment["reference"]
        again = await client.post("/charges", json=FEE, headers=headers)
        assert again.json()["data"]["id"] == made.json()["data"]["id"]
        await _paid_once(db, paying.payer.merchant_id, tally, 500)
        assert await merchant_balance(db, paying.payer) == 500 - 100


async def test_mcps_send_tool_refused_for_funds_is_paid_in_a_third_protocol(
    settings: Settings, make_merchant: MakeMerchant, db: Database
) -> None:
    with registry.registered(TallyReceiver()) as registered:
        tally = cast(TallyReceiver, registered)
        merchant = await make_merchant("staging", balance_cents=0)
        arguments = send_args("tally-mcp-1", amount_cents=650)
        async with live_server(settings) as root, mcp_http(root, merchant.key) as session:
            with pytest.raises(MCPError) as refused:
                await session.call_tool("send_topup", arguments)
            assert refused.value.code == MCP_PAYMENT_REQUIRED
            data: dict[str, Any] = refused.value.data
            assert data["envelope"]["code"] == 4001
            offer = data[TALLY]["offer"]

            meta = cast(types.RequestParamsMeta, {META_CREDENTIAL: offer})
            paid = McpCall(await session.call_tool("send_topup", arguments, meta=meta))
            assert (paid.is_error, paid.code) == (False, 1001), paid.envelope
            payment = paid.data["payment"]
            assert payment["amount_cents"] == 700
            assert paid.result.meta is not None
            assert paid.result.meta[META_RECEIPT] == payment["reference"]

            again = McpCall(await session.call_tool("send_topup", arguments, meta=meta))
            assert (again.code, again.data["payment"]["order_id"]) == (1001, payment["order_id"])
        await _paid_once(db, merchant.merchant_id, tally, 700)
        assert await merchant_balance(db, merchant) == 700 - 650


async def test_a_third_protocols_own_route_is_mounted_through_the_registry(
    settings: Settings, make_merchant: MakeMerchant
) -> None:
    """An app built while the protocol is registered serves its route on the REST door's
    steps (the key's caller, the envelope) and documents it, and its headers on the routes that
    take a paid retry; one built after it, not."""
    merchant = await make_merchant("staging")
    with registry.registered(TallyReceiver()):
        async with running_app(settings) as app, asgi_client(app) as http:
            terms = await http.get(TERMS_PATH, headers=merchant.headers)
            anonymous = await http.get(TERMS_PATH)
            spec = (await http.get("/openapi.json")).json()
    assert (terms.status_code, terms.json()["code"]) == (200, 1000), terms.text
    assert terms.json()["data"] == {"env": "staging", "ttl_seconds": 300}
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 2001)
    assert spec["paths"][f"/api/public/v1{TERMS_PATH}"]["get"]["summary"] == "Tally's terms"
    # Its headers are on every route that takes a paid retry, beside the built-in protocols'.
    for path, success in (("/topup/send", "200"), ("/charges", "201")):
        op = spec["paths"][f"/api/public/v1{path}"]["post"]
        assert {p["name"] for p in op["parameters"]} >= {CREDENTIAL_HEADER, "Payment-Authorization"}
        refused = op["responses"]["402"]["$ref"].rsplit("/", 1)[1]
        assert {OFFER_HEADER, "WWW-Authenticate"} <= set(
            spec["components"]["responses"][refused]["headers"]
        )
        assert RECEIPT_HEADER in op["responses"][success]["headers"]
    async with running_app(settings) as app, asgi_client(app) as http:
        gone = await http.get(TERMS_PATH, headers=merchant.headers)
    assert gone.status_code == 404


def test_a_third_protocols_process_beside_make_run_is_asked_of_the_registry(
    settings: Settings,
) -> None:
    env: dict[str, str] = {}
    with registry.registered(TallyReceiver()):
        companions = registry.dev_companions(settings, env)
    [clerk] = [companion for companion in companions if companion.name == CLERK]
    assert clerk.said == f"staging's tally clerk: {CLERK_URL}"
    assert env["AITOPUP_TALLY_CLERK_URL"] == CLERK_URL
    assert CLERK not in [companion.name for companion in registry.dev_companions(settings, {})]
