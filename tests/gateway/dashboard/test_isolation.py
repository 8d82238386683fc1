"""Two merchants on one gateway: no dashboard URL or form reaches the other's data, whatever id
is typed into it (404, nothing changed); a key's raw value is shown once."""

import re

from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, Topup, table_of
from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, SignUp

_T = table_of(Topup)
_K = table_of(ApiKeyRow)
_RAW_KEY = re.compile(r"ak_(?:staging|live)_[0-9A-Za-z]{32}")
_KEY_ID = re.compile(r'/dashboard/keys/(key_[0-9a-z]{24})"')


async def _make_key(account: Account, name: str) -> tuple[str, str]:
    reply = await account.shown_once("/keys", {"name": name, "scopes": "topup:send"}, page="/keys")
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    raw = _RAW_KEY.findall(reply.text)
    assert len(set(raw)) == 1
    listing = await account.client.get("/keys")
    key_id = _KEY_ID.findall(listing.text)[0]
    return raw[0], key_id


async def _send_pending(app: ASGIApp, key: str) -> str:
    async with asgi_client(app) as api:
        sent = await api.post(
            "/topup/send",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "platform": "claude",
                "amount_cents": 700,
                "recipient_email": "b+pending@example.com",
            },
        )
    assert sent.status_code == 202, sent.text
    txn: str = sent.json()["transaction_id"]
    return txn


async def test_a_keys_raw_value_appears_once(sign_up: SignUp, db: Database) -> None:
    account = await sign_up()
    raw, key_id = await _make_key(account, "shown once")
    async with db.read() as conn:
        prefix = (
            await conn.execute(select(_K.c.display_prefix).where(_K.c.id == key_id))
        ).scalar_one()
    assert raw.startswith(prefix) and len(prefix) < len(raw)
    for path in ("/keys", f"/keys/{key_id}", "/", "/developers"):
        page = await account.client.get(path)
        assert page.status_code == 200
        assert raw not in page.text
        if path != "/":
            assert prefix in page.text


async def test_neither_merchant_reaches_the_others_data(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    alice, bob = await sign_up(), await sign_up()
    alice_key, alice_key_id = await _make_key(alice, "alice's agent")
    txn = await _send_pending(app, alice_key)

    # Alice sees her own.
    assert (await alice.client.get(f"/topups/{txn}")).status_code == 200
    assert txn in (await alice.client.get("/topups")).text
    assert txn in (await alice.client.get("/")).text

    # Bob, typing Alice's ids into every URL and form, finds nothing and changes nothing.
    for path in (f"/topups/{txn}", f"/keys/{alice_key_id}"):
        reply = await bob.client.get(path)
        assert reply.status_code == 404, path
        assert "b+pending@example.com" not in reply.text
        assert "alice&#39;s agent" not in reply.text
    assert txn not in (await bob.client.get("/topups")).text
    assert txn not in (await bob.client.get(f"/topups?before=txn_{'z' * 24}")).text
    assert txn not in (await bob.client.get("/")).text
    for path, data in (
        (f"/topups/{txn}/cancel", {}),
        (f"/keys/{alice_key_id}/revoke", {}),
        (f"/keys/{alice_key_id}/policy", {"scopes": "approvals"}),
    ):
        reply = await bob.post(path, data)
        assert reply.status_code == 404, (path, reply.text)
    async with db.read() as conn:
        status = (await conn.execute(select(_T.c.status).where(_T.c.id == txn))).scalar_one()
        key = (await conn.execute(select(_K).where(_K.c.id == alice_key_id))).one()
    assert status == "pending"
    assert key.revoked_at is None
    assert "approvals" not in key.policy["scopes"]

    # Alice's own staging top-up is not in her live view either.
    assert (await alice.post("/env", {"env": "live"})).status_code == 303
    assert (await alice.client.get(f"/topups/{txn}")).status_code == 404
    assert (await alice.client.get(f"/keys/{alice_key_id}")).status_code == 404
    assert (await alice.post("/env", {"env": "staging"})).status_code == 303

    # And she can cancel it (refunded, through the API's operation).
    before = await alice.client.get("/")
    assert "$7.00" in before.text  # held
    assert (await alice.post(f"/topups/{txn}/cancel", {}, page=f"/topups/{txn}")).status_code == 303
    async with db.read() as conn:
        status = (await conn.execute(select(_T.c.status).where(_T.c.id == txn))).scalar_one()
    assert status == "cancelled"


async def test_malformed_ids_are_not_found(sign_up: SignUp) -> None:
    account = await sign_up()
    for path in ("/topups/txn_x", "/topups/TXN_0", "/keys/key_%27", "/nowhere"):
        reply = await account.client.get(path)
        assert reply.status_code == 404, path
        assert "text/html" in reply.headers["content-type"]


async def test_a_refused_policy_says_why_and_keeps_the_input(sign_up: SignUp, db: Database) -> None:
    account = await sign_up()
    reply = await account.post(
        "/keys",
        {
            "name": "careful",
            "scopes": "topup:send",
            "limit_daily": "12.345",
            "allowed_recipients": "ok@example.com\nnot an address",
            "soft_limit_percent": "250",
        },
        page="/keys",
    )
    assert reply.status_code == 422
    assert "Enter an amount in dollars" in reply.text
    assert 'value="12.345"' in reply.text  # kept as typed
    assert 'value="careful"' in reply.text
    assert "not an address" in reply.text
    assert _RAW_KEY.search(reply.text) is None
    async with db.read() as conn:
        made = (await conn.execute(select(_K.c.id).where(_K.c.name == "careful"))).first()
    assert made is None
    # Amounts are exact cents, never through a float.
    good = await account.post(
        "/keys", {"name": "exact", "scopes": "topup:send", "max_per_send": "0.29"}, page="/keys"
    )
    assert good.status_code == 303
    async with db.read() as conn:
        policy = (await conn.execute(select(_K.c.policy).where(_K.c.name == "exact"))).scalar_one()
    assert policy["max_per_send_cents"] == 29
