"""Every kind of payment is one contract under its key: an app's charges and its sends, racing
through a real server for one consent's daily window, never pass it by a cent, on each store;
each refusal is the window's, and kept under its idempotency key as a reply is."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.types import ASGIApp

from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant, merchant_balance, unbalanced_wallets
from tests.fixtures.oauth import Flow, register_app
from tests.fixtures.policies import spend_rows

EACH, AMOUNT, DAILY = 30, 100, 1_000  # 30 charges and 30 sends of $1.00 for $10.00 a day
CHARGED, SENT, FULL = 1004, 1001, 2304


@pytest.mark.xdist_group("concurrency")
async def test_charges_and_sends_racing_for_one_daily_window_never_pass_it(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    live_url: str,
) -> None:
    root = live_url.removesuffix("/api/public/v1")
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=["billing", "topup:send"])
    flow = Flow(app, made["id"], made["client_secret"], root=root)
    try:
        tokens = await flow.tokens(
            await sign_up_on(dashboard_client(app)),
            scope="billing topup:send",
            form={"scopes": ["billing", "topup:send"], "limit_daily": "10.00"},
        )
    finally:  # its client to the served gateway: no socket left for another test to find
        await flow.oauth.aclose()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with local_client(base_url=live_url) as api:
        me = (await api.get("/me", headers=bearer)).json()["data"]
    payer = await make_merchant("staging", merchant_id=me["merchant"]["id"], balance_cents=50_000)
    payee = await merchant_balance(db, owner)

    charge = {"amount_cents": AMOUNT, "description": "Monthly seat"}
    send = {
        "platform": "claude",
        "amount_cents": AMOUNT,
        "recipient_email": "ann@example.com",
        "notify_recipient": False,
    }

    def charging(n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        return "/charges", charge, {**bearer, "Idempotency-Key": f"c-{n}"}

    def sending(n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        return "/topup/send", send, {**bearer, "Idempotency-Key": f"s-{n}"}

    # Interleaved, so neither kind has a head start.
    asked = [kind(n) for n in range(EACH) for kind in (charging, sending)]
    limits = httpx.Limits(max_connections=100)
    async with local_client(base_url=live_url, limits=limits, timeout=60) as http:
        replies = await asyncio.gather(
            *(http.post(path, json=body, headers=headers) for path, body, headers in asked)
        )
        answers = [r.json() for r in replies]
        codes = [a["code"] for a in answers]
        assert sorted(codes).count(FULL) == 2 * EACH - DAILY // AMOUNT, codes
        assert set(codes) <= {CHARGED, SENT, FULL}, codes
        for answer in answers:
            if answer["code"] == FULL:
                assert answer["data"]["limit_source"] == "daily"
                assert answer["data"]["remaining_cents"] == 0
        # Every reply, refusals included, is what its key answers again.
        again = await asyncio.gather(
            *(http.post(path, json=body, headers=headers) for path, body, headers in asked)
        )
        assert [r.json()["code"] for r in again] == codes
        assert all(r.headers.get("idempotent-replayed") == "true" for r in again)

    charged = [a["data"]["id"] for a in answers if a["code"] == CHARGED]
    assert await merchant_balance(db, payer) == 50_000 - DAILY
    assert await merchant_balance(db, owner) == payee + AMOUNT * len(charged)
    async with db.read() as conn:
        keys = {
            row.key_id
            for row in await conn.execute(
                text(
                    "SELECT key_id FROM charges WHERE payer_merchant_id = :m"
                    " UNION SELECT api_key_id FROM topups WHERE merchant_id = :m"
                ),
                {"m": payer.merchant_id},
            )
        }
    assert len(keys) == 1  # the consent's: charges and sends count under one key
    spent = await spend_rows(db, keys.pop())
    assert [s for s, _ in spent.values()] == [DAILY]
    assert await unbalanced_wallets(db) == []
