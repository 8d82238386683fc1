"""The kill switch over REST: a freeze refuses every key of the environment at once (the other
environment untouched), writes its event and a mail to each owner, keeps or cancels held sends
as asked; unfreezing restores exactly what was there; a budget that does not exist and bad input
are refused with nothing changed; a key without the ``keys`` scope may not pull it."""

from typing import Any

import httpx
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import Mail, Topup, Wallet, table_of
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    add_member,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.oauth import Flow, register_app
from tests.fixtures.policies import set_policy
from tests.fixtures.webhooks import events_of

_W = table_of(Wallet)
_M = table_of(Mail)
_T = table_of(Topup)
SEND = {"platform": "claude", "amount_cents": 500, "recipient_email": "ana@example.com"}


async def _send(client: httpx.AsyncClient, merchant: MerchantKey) -> Any:
    return await client.post("/topup/send", json=SEND, headers=merchant.headers)


async def _frozen_flags(db: Database, merchant_id: str) -> dict[str, bool]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_W.c.env, _W.c.frozen_at).where(_W.c.owner == f"m:{merchant_id}")
        )
        return {r.env: r.frozen_at is not None for r in rows}


async def _mails(db: Database, merchant_id: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_M.c.kind).where(
                _M.c.merchant_id == merchant_id, _M.c.kind == "environment_freeze"
            )
        )
        return [r.kind for r in rows]


async def test_a_freeze_refuses_every_key_of_the_environment_and_unfreezing_restores_it(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    other = await make_merchant(merchant_id=merchant.merchant_id)  # a second staging key
    live = await make_merchant("live", merchant_id=merchant.merchant_id, balance_cents=10_000)
    await add_member(db, merchant.merchant_id)
    assert (await _send(client, merchant)).json()["code"] == 1001

    frozen = await client.post("/freeze", json={}, headers=merchant.headers)
    body = frozen.json()
    assert frozen.status_code == 200 and body["code"] == 1000
    assert body["data"]["frozen"] is True and body["data"]["env"] == "staging"
    assert await _frozen_flags(db, merchant.merchant_id) == {"staging": True, "live": False}
    balance = await merchant_balance(db, merchant)

    for key in (merchant, other):
        for call in (_send(client, key), client.get("/balance", headers=key.headers)):
            refused = await call
            assert refused.status_code == 423
            assert refused.json()["code"] == 2360 and refused.json()["success"] is False
    assert await merchant_balance(db, merchant) == balance
    assert (await _send(client, live)).json()["code"] == 1001  # live is another environment

    [event] = await events_of(db, merchant.merchant_id, "environment.frozen")
    assert event["data"]["by"] == f"key {merchant.key_id}" and event["data"]["held"] == "keep"
    assert await _mails(db, merchant.merchant_id) == ["environment_freeze"]

    # The freeze's own route still answers a key of it; freezing again changes nothing.
    again = await client.post("/freeze", json={}, headers=merchant.headers)
    assert again.json()["data"]["frozen_at"] == body["data"]["frozen_at"]
    assert len(await events_of(db, merchant.merchant_id, "environment.frozen")) == 1
    shown = await client.get("/freeze", headers=other.headers)
    assert shown.json()["data"]["frozen"] is True

    thawed = await client.delete("/freeze", headers=merchant.headers)
    assert thawed.status_code == 200 and thawed.json()["data"]["frozen"] is False
    assert await _frozen_flags(db, merchant.merchant_id) == {"staging": False, "live": False}
    for key in (merchant, other):
        assert (await _send(client, key)).json()["code"] == 1001
    [back] = await events_of(db, merchant.merchant_id, "environment.unfrozen")
    assert back["data"]["frozen_at"] == event["data"]["frozen_at"]
    assert sorted(await _mails(db, merchant.merchant_id)) == ["environment_freeze"] * 2
    await assert_ledger_balanced(db)


async def test_held_sends_are_kept_held_or_cancelled_and_refunded_as_asked(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    approver = await make_merchant(merchant_id=merchant.merchant_id)
    await set_policy(
        db,
        merchant.key_id,
        {"scopes": ["topup:send", "topup:read", "keys"], "approval_above_cents": 100},
    )
    held = (await _send(client, merchant)).json()
    assert held["code"] == 1006
    kept = await client.post("/freeze", json={}, headers=merchant.headers)
    assert kept.json()["data"]["held_cancelled"] == 0
    # Held by an approval rule, the sending key may not lift the freeze; a free key does.
    assert (await client.delete("/freeze", headers=merchant.headers)).json()["code"] == 2420
    await client.delete("/freeze", headers=approver.headers)
    second = (await _send(client, merchant)).json()
    assert second["code"] == 1006
    assert await merchant_balance(db, merchant) == 9_000  # both debited while held

    # A held send is not delivered while frozen: the approver's key is refused with the rest.
    await client.post("/freeze", json={}, headers=merchant.headers)
    txn = held["transaction_id"]
    approve = await client.post(f"/topup/{txn}/approve", headers=approver.headers)
    assert approve.json()["code"] == 2360
    cancel = await client.post("/freeze", json={"held": "cancel"}, headers=merchant.headers)
    assert cancel.json()["data"]["held_cancelled"] == 2
    async with db.read() as conn:
        statuses = await conn.execute(
            select(_T.c.status, _T.c.decided_by).where(_T.c.merchant_id == merchant.merchant_id)
        )
        assert sorted(tuple(r) for r in statuses) == [("denied", "freeze")] * 2
    assert await merchant_balance(db, merchant) == 10_000
    await assert_ledger_balanced(db)


async def test_a_budget_that_does_not_exist_and_bad_input_change_nothing(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    url = "/freeze"
    budget = await client.post(url, json={"budget_id": "bud_nope"}, headers=merchant.headers)
    assert budget.status_code == 404 and budget.json()["code"] == 2361
    for bad in ({"held": "later"}, {"budget_id": ""}, {"budget_id": 7}, {"extra": 1}):
        refused = await client.post(url, json=bad, headers=merchant.headers)
        assert refused.status_code == 422 and refused.json()["code"] == 3001, bad
    not_an_object = await client.post(url, json=[], headers=merchant.headers)
    assert not_an_object.status_code == 400 and not_an_object.json()["success"] is False
    assert await _frozen_flags(db, merchant.merchant_id) == {"staging": False, "live": False}
    assert await events_of(db, merchant.merchant_id, "environment.frozen") == []


async def test_only_a_key_with_the_keys_scope_pulls_or_undoes_the_switch(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    await set_policy(db, merchant.key_id, {"scopes": ["topup:send", "topup:read"]})
    for call in (
        client.post("/freeze", json={}, headers=merchant.headers),
        client.delete("/freeze", headers=merchant.headers),
    ):
        refused = await call
        assert refused.status_code == 403 and refused.json()["code"] == 2301
    assert await _frozen_flags(db, merchant.merchant_id) == {"staging": False, "live": False}


async def test_a_freeze_naming_a_budget_freezes_that_budget_alone(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant(balance_cents=10_000)
    made = await client.post(
        "/budgets",
        json={
            "name": "Agents",
            "windows": {"limits": [{"amount_cents": 5000, "interval": "daily"}]},
        },
        headers=merchant.headers,
    )
    assert made.status_code == 201, made.text
    budget_id = made.json()["data"]["id"]
    drawing = {"scopes": ["topup:send", "topup:read", "keys"], "budgets": [budget_id]}
    await set_policy(db, merchant.key_id, drawing)
    assert (await _send(client, merchant)).json()["code"] == 1001

    frozen = await client.post("/freeze", json={"budget_id": budget_id}, headers=merchant.headers)
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["data"]["frozen"] is False  # the environment is not
    assert frozen.json()["data"]["budget"]["id"] == budget_id
    refused = await _send(client, merchant)
    assert refused.json()["code"] == 2351, refused.text
    assert await _frozen_flags(db, merchant.merchant_id) == {"staging": False, "live": False}

    # A key drawing on the budget may freeze it, never thaw it: a key free of it does.
    held = await client.delete(f"/budgets/{budget_id}/freeze", headers=merchant.headers)
    assert held.status_code == 403 and held.json()["code"] == 2317, held.text
    assert (await _send(client, merchant)).json()["code"] == 2351
    await set_policy(db, merchant.key_id, None)
    thawed = await client.delete(f"/budgets/{budget_id}/freeze", headers=merchant.headers)
    assert thawed.status_code == 200, thawed.text
    await set_policy(db, merchant.key_id, drawing)
    assert (await _send(client, merchant)).json()["code"] == 1001


async def test_a_key_held_by_a_limit_or_a_budget_cannot_undo_the_freeze(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    """A key with ``keys`` and a $1.00 daily limit, and one bound to a $1 budget, may pull the
    switch, never lift it: only a key free of every limit may (docs/fleets.md)."""
    merchant = await make_merchant(balance_cents=10_000)
    limited = await make_merchant(merchant_id=merchant.merchant_id)
    bound = await make_merchant(merchant_id=merchant.merchant_id)
    made = await client.post(
        "/budgets",
        json={
            "name": "Agents",
            "windows": {"limits": [{"amount_cents": 100, "interval": "daily"}]},
        },
        headers=merchant.headers,
    )
    budget_id = made.json()["data"]["id"]
    scopes = ["topup:send", "topup:read", "keys"]
    daily = [{"amount_cents": 100, "interval": "daily"}]
    await set_policy(db, limited.key_id, {"scopes": scopes, "limits": daily})
    await set_policy(db, bound.key_id, {"scopes": scopes, "budgets": [budget_id]})

    for key, fields in ((limited, ["limits"]), (bound, ["budgets"])):
        frozen = await client.post("/freeze", json={}, headers=key.headers)
        assert frozen.json()["data"]["frozen"] is True
        refused = await client.delete("/freeze", headers=key.headers)
        assert refused.status_code == 403 and refused.json()["code"] == 2420, refused.text
        assert refused.json()["data"] == {"fields": fields}
        assert await _frozen_flags(db, merchant.merchant_id) == {"staging": True, "live": False}
        assert (await _send(client, merchant)).json()["code"] == 2360
        # The merchant's own key free of every limit lifts it.
        thawed = await client.delete("/freeze", headers=merchant.headers)
        assert thawed.json()["data"]["frozen"] is False
    assert len(await events_of(db, merchant.merchant_id, "environment.unfrozen")) == 2


async def test_an_apps_token_cannot_undo_the_freeze(
    app: ASGIApp, client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    """An app's token, whatever its consent gives, is refused while the environment is frozen,
    on the freeze's own route too; and it never unfreezes one."""
    owner = await make_merchant("staging")
    made = await register_app(client, owner)
    flow = Flow(app, made["id"], made["client_secret"])
    person = await sign_up_on(dashboard_client(app))
    tokens = await flow.tokens(person)
    await flow.oauth.aclose()
    token = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = await client.get("/me", headers=token)
    merchant = await make_merchant("staging", merchant_id=me.json()["data"]["merchant"]["id"])
    assert (await client.post("/freeze", json={}, headers=merchant.headers)).status_code == 200

    for call in (client.delete("/freeze", headers=token), client.get("/freeze", headers=token)):
        refused = await call
        assert refused.status_code == 423 and refused.json()["code"] == 2360, refused.text
    assert await _frozen_flags(db, merchant.merchant_id) == {"staging": True, "live": False}
    assert await events_of(db, merchant.merchant_id, "environment.unfrozen") == []
