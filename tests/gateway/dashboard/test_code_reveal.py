"""Who sees a recipient's spendable code (an upstream's, here New API's, and the gateway's own
``ATU-`` voucher): on the dashboard an owner alone (``accounts.roles``: "reveal"), on every page
that shows one (the top-up, the staging mailbox and its mail); through the API, a key whose
policy reveals codes, on the staging mailbox too (the mail's text, its HTML and the link to the
page that shows the code). An app sees no code its consent does not reveal. A key made without
a policy, stored and read back, reveals; one made with a policy does not unless it says so. A
dashboard member mints only keys within their role, and a key only keys within its own powers."""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.callers import authenticate
from gateway.mail.vouchers import MASKED
from gateway.merchants import service as merchants
from gateway.policies.model import KEY_SCOPES, SCOPES, UNRESTRICTED, Policy
from gateway.store.engine import Database
from gateway.store.models import MerchantUser, User, table_of
from gateway.values.clock import utcnow
from tests.fixtures.core import TEST_PEPPER
from tests.fixtures.dashboard import Account, dashboard_client, join_as, sign_up_on
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.oauth import Flow, register_app
from tests.fixtures.upstreams import NewApiStandIn, send_body, use_newapi

_U = table_of(User)
_MU = table_of(MerchantUser)
ROLES = ("owner", "developer", "viewer")


async def _merchant_of(db: Database, email: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(
            select(_MU.c.merchant_id).join(_U, _U.c.id == _MU.c.user_id).where(_U.c.email == email)
        )
        merchant_id: str = found.scalar_one()
    return merchant_id


@pytest.fixture
async def team(fulfil_app: ASGIApp) -> AsyncIterator[dict[str, Account]]:
    """An owner signed up on the dashboard, a developer and a viewer invited by them."""
    client = dashboard_client(fulfil_app)
    owner = await sign_up_on(client)
    found = {"owner": owner}
    for role in ("developer", "viewer"):
        found[role] = await join_as(fulfil_app, owner, role)
    yield found
    for account in found.values():
        await account.client.aclose()


async def _key(
    client: httpx.AsyncClient, by: MerchantKey, policy: dict[str, Any]
) -> dict[str, str]:
    made = await client.post("/keys", json={"policy": policy}, headers=by.headers)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['data']['key']}"}


async def test_only_an_owner_and_a_revealing_key_see_an_upstreams_code(
    team: dict[str, Account],
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
    db: Database,
) -> None:
    newapi, root = newapi_standin
    merchant_id = await _merchant_of(db, team["owner"].email)
    legacy = await make_merchant("staging", merchant_id=merchant_id)  # no policy: reveals
    await use_newapi(fulfil_client, legacy, root)
    sent = await fulfil_client.post("/topup/send", json=send_body(250), headers=legacy.headers)
    assert sent.json()["code"] == 1001, sent.text
    txn = sent.json()["transaction_id"]
    [made] = newapi.redemptions
    code = made["key"]
    assert sent.json()["data"]["voucher_code"] == code

    mails = (await fulfil_client.get("/emails", headers=legacy.headers)).json()["data"]
    [mail] = [m for m in mails if m["transaction_id"] == txn]
    assert code in mail["text"] and code in mail["html"] and mail["link"]

    # The dashboard: the top-up's page, the mail's page (text and the link it carries).
    for role in ROLES:
        member = team[role]
        shown = await member.client.get(f"/topups/{txn}")
        assert shown.status_code == 200, (role, shown.text)
        assert (code in shown.text) is (role == "owner"), role
        confirm = await member.client.get(f"/topups/{txn}/approve")
        assert code not in confirm.text, role
        page = await member.client.get(f"/mail/{mail['id']}")
        assert page.status_code == 200, (role, page.text)
        assert (code in page.text) is (role == "owner"), role
        assert ('id="mail-link"' in page.text) is (role == "owner"), role
        if role != "owner":
            assert "/dashboard/recipient/" not in page.text, role

    # The API: a key with a policy does not reveal unless it says so, in every part of the mail.
    hidden = await _key(fulfil_client, legacy, {"scopes": ["topup:read"]})
    shown_key = await _key(
        fulfil_client, legacy, {"scopes": ["topup:read"], "reveal_voucher": True}
    )
    for headers, reveals in ((hidden, False), (shown_key, True), (legacy.headers, True)):
        listed = (await fulfil_client.get("/emails", headers=headers)).json()["data"]
        [one] = [m for m in listed if m["transaction_id"] == txn]
        single = (await fulfil_client.get(f"/emails/{one['id']}", headers=headers)).json()["data"]
        topup = (await fulfil_client.get(f"/topup/{txn}", headers=headers)).json()["data"]
        for each in (one, single):
            for part in ("text", "html"):
                assert (code in each[part]) is reveals, (reveals, part)
                assert (MASKED in each[part]) is not reveals, (reveals, part)
            assert (each["link"] is not None) is reveals
            if not reveals:
                assert "/dashboard/recipient/" not in each["text"] + each["html"]
        assert (topup["voucher_code"] == code) is reveals


@pytest.mark.both_stores
async def test_only_an_owner_sees_the_gateway_s_own_voucher_on_every_page(
    team: dict[str, Account],
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """A live ``ATU-`` voucher (no upstream): the top-up's page shows it in
    ``<code id="voucher">`` to an owner alone, and no other page (the list, the overview whose
    regions are the live stream's partials, the decision's confirmation) shows it to anyone.
    In staging, the mailbox's mail, its HTML and the link it carries likewise; the key that
    sent it still reads it."""
    merchant_id = await _merchant_of(db, team["owner"].email)
    codes: dict[str, tuple[str, str]] = {}
    for env in ("live", "staging"):
        sender = await make_merchant(env, merchant_id=merchant_id, balance_cents=1_000)
        sent = await fulfil_client.post("/topup/send", json=send_body(100), headers=sender.headers)
        assert sent.json()["code"] == 1001, sent.text
        code = sent.json()["data"]["voucher_code"]
        assert code.startswith("ATU-"), code
        txn = sent.json()["transaction_id"]
        again = await fulfil_client.get(f"/topup/{txn}", headers=sender.headers)
        assert again.json()["data"]["voucher_code"] == code
        codes[env] = (txn, code)
    mails = (await fulfil_client.get("/emails", headers=sender.headers)).json()["data"]
    [mail] = [m for m in mails if m["transaction_id"] == codes["staging"][0]]
    assert codes["staging"][1] in mail["text"] and mail["link"]

    for role in ROLES:
        member, owner = team[role], role == "owner"
        for env in ("live", "staging"):
            assert (await member.post("/env", {"env": env})).status_code == 303, role
            txn, code = codes[env]
            shown = await member.client.get(f"/topups/{txn}")
            assert shown.status_code == 200, (role, shown.text)
            assert (code in shown.text) is owner, (role, env)
            assert ('<code id="voucher">' in shown.text) is owner, (role, env)
            for path in ("/topups", "/", f"/topups/{txn}/approve", "/mail", "/recipients"):
                assert code not in (await member.client.get(path)).text, (role, env, path)
        # The staging mailbox: the mail's page, its HTML frame and the link it carries.
        code = codes["staging"][1]
        page = await member.client.get(f"/mail/{mail['id']}")
        assert page.status_code == 200, (role, page.text)
        assert (code in page.text) is owner, role
        assert ('id="mail-link"' in page.text) is owner, role
        framed = await member.client.get(f"/mail-html/{mail['id']}")
        assert framed.status_code == 200, (role, framed.text)
        assert (code in framed.text) is owner, role
        assert (MASKED in page.text and MASKED in framed.text) is not owner, role
        if not owner:
            assert "/dashboard/recipient/" not in page.text + framed.text, role


@pytest.mark.both_stores
async def test_an_app_sees_no_code_its_consent_does_not_reveal(
    team: dict[str, Account],
    fulfil_app: ASGIApp,
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    """An app acts through a consent a member gave (the consent page never offers the code's
    reveal): the gateway's own voucher is not in its send's reply, its approval-free reads
    (``GET /topup/{id}``, the list), whoever gave it; the merchant's own key reads it."""
    merchant_id = await _merchant_of(db, team["owner"].email)
    legacy = await make_merchant("staging", merchant_id=merchant_id)
    made = await register_app(fulfil_client, await make_merchant("live"))
    for role in ("owner", "developer"):
        flow = Flow(fulfil_app, made["id"], made["client_secret"])
        tokens = await flow.tokens(team[role])
        app = {"Authorization": f"Bearer {tokens['access_token']}"}
        sent = await fulfil_client.post("/topup/send", json=send_body(100), headers=app)
        assert sent.json()["code"] == 1001, sent.text
        assert sent.json()["data"]["voucher_code"] is None, role
        txn = sent.json()["transaction_id"]
        one = (await fulfil_client.get(f"/topup/{txn}", headers=app)).json()["data"]
        listed = (await fulfil_client.get("/topup", headers=app)).json()["data"]
        assert one["voucher_code"] is None and listed, role
        assert all(t["voucher_code"] is None for t in listed), role
        mine = (await fulfil_client.get(f"/topup/{txn}", headers=legacy.headers)).json()
        assert mine["data"]["voucher_code"].startswith("ATU-"), role


async def test_a_key_stored_without_a_policy_reveals_and_one_with_a_policy_only_if_it_says(
    db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    cases = [
        (UNRESTRICTED, True),  # the CLI's, ``make run``'s, the operator's
        (None, True),  # a key from before policies
        (Policy(scopes=SCOPES), False),
        (Policy(), False),
        (Policy(reveal_voucher=True), True),
    ]
    for policy, reveals in cases:
        async with db.transaction() as conn:
            _, key = await merchants.create_key(
                conn, merchant.merchant_id, "staging", TEST_PEPPER.encode(), utcnow(), policy=policy
            )
        caller = await authenticate(db, TEST_PEPPER.encode(), key.raw)
        assert caller.policy.reveals_voucher() is reveals, policy


_SCOPE_BOX = re.compile(r'name="scopes" value="([a-z:]+)"')


async def test_a_member_mints_only_keys_within_their_role(team: dict[str, Account]) -> None:
    developer, owner = team["developer"], team["owner"]
    offered = set(_SCOPE_BOX.findall((await developer.client.get("/keys")).text))
    assert offered == {"topup:send", "topup:read", "webhooks", "keys", "payments:send"}
    assert 'name="reveal_voucher"' not in (await developer.client.get("/keys")).text
    assert set(_SCOPE_BOX.findall((await owner.client.get("/keys")).text)) == set(KEY_SCOPES)
    assert 'name="reveal_voucher"' in (await owner.client.get("/keys")).text

    for extra in ("approvals", "fulfilment", "billing"):
        refused = await developer.post("/keys", {"name": "x", "scopes": extra}, page="/keys")
        assert refused.status_code == 403, (extra, refused.text)
        assert "As a developer you cannot give a key this" in refused.text
    revealing = await developer.post(
        "/keys", {"name": "x", "scopes": "topup:read", "reveal_voucher": "on"}, page="/keys"
    )
    assert revealing.status_code == 403, revealing.text
    made = await developer.post("/keys", {"name": "ok", "scopes": "topup:send"}, page="/keys")
    assert made.status_code == 303, made.text
    done = await owner.post(
        "/keys", {"name": "all", "scopes": "approvals", "reveal_voucher": "on"}, page="/keys"
    )
    assert done.status_code == 303, done.text


async def test_a_key_mints_no_key_stronger_than_itself(
    fulfil_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    legacy = await make_merchant("staging")
    manager = await _key(fulfil_client, legacy, {"scopes": ["keys", "topup:read"]})
    for policy, code in (
        ({"scopes": ["topup:read", "approvals"]}, 2310),
        ({"scopes": ["topup:read"], "reveal_voucher": True}, 2312),
    ):
        refused = await fulfil_client.post("/keys", json={"policy": policy}, headers=manager)
        assert (refused.status_code, refused.json()["code"]) == (403, code), refused.text
    weak = await fulfil_client.post(
        "/keys", json={"policy": {"scopes": ["topup:read"]}}, headers=manager
    )
    assert weak.status_code == 201, weak.text
    patched = await fulfil_client.patch(
        f"/keys/{weak.json()['data']['id']}",
        json={"policy": {"reveal_voucher": True}},
        headers=manager,
    )
    assert (patched.status_code, patched.json()["code"]) == (403, 2312), patched.text
