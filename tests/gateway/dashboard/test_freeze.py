"""The kill switch page: a member who manages keys freezes the environment of the switch (held
sends kept or cancelled) and an owner alone unfreezes it, the same operations as the API's; a
developer or a viewer sees the state and no form to lift it, and a post of theirs is refused
with nothing changed."""

import httpx
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import MerchantUser, table_of
from tests.fixtures.approval_links import status_and_decider
from tests.fixtures.dashboard import SignUp, join_as, user_id_of
from tests.fixtures.dashboard_sends import (
    held_send,
    key_with_approval_line,
    post_send_form,
    send_form_key,
    topup_count,
)
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.webhooks import events_of

_MU = table_of(MerchantUser)
SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "page@example.com"}


async def _key_of(db: Database, email: str, make_merchant: MakeMerchant) -> MerchantKey:
    user_id = await user_id_of(db, email)
    async with db.read() as conn:
        found = await conn.execute(select(_MU.c.merchant_id).where(_MU.c.user_id == user_id))
        merchant_id = str(found.scalar_one())
    return await make_merchant(merchant_id=merchant_id)


async def test_an_owner_freezes_and_unfreezes_the_environment_from_the_page(
    sign_up: SignUp, client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    owner = await sign_up()
    key = await _key_of(db, owner.email, make_merchant)
    keys_page = await owner.client.get("/keys")
    assert 'href="/dashboard/freeze"' in keys_page.text
    page = await owner.client.get("/freeze")
    assert page.status_code == 200 and "Not frozen" in page.text

    frozen = await owner.post("/freeze", {"held": "keep"}, page="/freeze")
    assert frozen.status_code == 303
    assert frozen.headers["location"].startswith("/dashboard/freeze?done=frozen")
    page = await owner.client.get(frozen.headers["location"].removeprefix("/dashboard"))
    assert "Staging is frozen." in page.text and "Unfreeze staging" in page.text
    refused = await client.post("/topup/send", json=SEND, headers=key.headers)
    assert refused.json()["code"] == 2360
    [event] = await events_of(db, key.merchant_id, "environment.frozen")
    assert event["data"]["by"] == f"user {owner.email}"

    thawed = await owner.post("/freeze/off", {}, page="/freeze")
    assert thawed.headers["location"] == "/dashboard/freeze?done=unfrozen"
    sent = await client.post("/topup/send", json=SEND, headers=key.headers)
    assert sent.json()["code"] == 1001

    bad = await owner.post("/freeze", {"held": "later"}, page="/freeze")
    assert bad.status_code == 422
    assert "Not frozen" in (await owner.client.get("/freeze")).text


async def test_a_viewer_sees_the_state_but_cannot_pull_the_switch(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    viewer = await join_as(app, owner, "viewer")
    page = await viewer.client.get("/freeze")
    assert page.status_code == 200 and "Freeze staging" not in page.text
    refused = await viewer.post("/freeze", {"held": "keep"}, page="/freeze")
    assert refused.status_code == 403
    assert "Not frozen" in (await owner.client.get("/freeze")).text


async def test_a_developer_pulls_the_switch_in_staging_but_only_an_owner_lifts_it(
    app: ASGIApp, sign_up: SignUp, db: Database, make_merchant: MakeMerchant
) -> None:
    owner = await sign_up()
    key = await _key_of(db, owner.email, make_merchant)
    developer = await join_as(app, owner, "developer")
    viewer = await join_as(app, owner, "viewer")
    frozen = await developer.post("/freeze", {"held": "keep"}, page="/freeze")
    assert frozen.status_code == 303
    page = await developer.client.get("/freeze")
    assert "Unfreeze staging" not in page.text
    assert "Only an owner lifts the freeze." in page.text

    for member in (developer, viewer):
        refused = await member.post("/freeze/off", {}, page="/freeze")
        assert refused.status_code == 403
        assert "cannot unfreeze the environment in staging" in refused.text
    assert "Unfreeze staging" in (await owner.client.get("/freeze")).text
    assert await events_of(db, key.merchant_id, "environment.unfrozen") == []

    thawed = await owner.post("/freeze/off", {}, page="/freeze")
    assert thawed.headers["location"] == "/dashboard/freeze?done=unfrozen"
    [event] = await events_of(db, key.merchant_id, "environment.unfrozen")
    assert event["data"]["by"] == f"user {owner.email}"


async def test_the_dashboards_send_is_refused_while_frozen(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    _, key_id = await send_form_key(owner, "shop")
    body = {"key_id": key_id, "platform": "claude", "amount": "7.00",
            "recipient_email": "lee@example.com"}  # fmt: skip
    assert (await owner.post("/freeze", {"held": "keep"}, page="/freeze")).status_code == 303
    refused = await post_send_form(owner, body)
    assert 'id="reply-code">2360<' in refused.text, refused.text
    assert await topup_count(db, key_id) == 0
    await owner.post("/freeze/off", {}, page="/freeze")
    sent = await post_send_form(owner, body)
    assert 'id="reply-code">1001<' in sent.text
    assert await topup_count(db, key_id) == 1


async def test_a_held_send_is_not_approved_from_the_dashboard_while_frozen(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    """An owner's approval delivers nothing while frozen (the API's refusal, as a page); a
    denial gives the money back; after the unfreeze the other send is approved."""
    owner = await sign_up()
    key = await key_with_approval_line(owner)
    first, second = await held_send(app, key, 700), await held_send(app, key, 900)
    assert (await owner.post("/freeze", {"held": "keep"}, page="/freeze")).status_code == 303

    refused = await owner.post(f"/topups/{first}/approve", {}, page="/topups/approvals")
    assert refused.status_code == 423, refused.status_code
    assert (await status_and_decider(db, first))[0] == "pending_approval"
    denied = await owner.post(f"/topups/{second}/deny", {}, page="/topups/approvals")
    assert denied.status_code == 303
    assert (await status_and_decider(db, second))[0] == "denied"

    await owner.post("/freeze/off", {}, page="/freeze")
    approved = await owner.post(f"/topups/{first}/approve", {}, page="/topups/approvals")
    assert approved.status_code == 303
    assert (await status_and_decider(db, first))[0] == "delivered"
