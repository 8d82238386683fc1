"""Roles enforced by the server: one table (``accounts.roles``) read at one gate
(``context.require_viewer``) for every dashboard form, whatever the page showed; members and
their roles managed by owners, and a merchant never left without an owner."""

import asyncio
import re
import uuid

import pytest
from sqlalchemy import func, select
from starlette.routing import Route
from starlette.types import ASGIApp

from gateway.accounts import fields, members, users
from gateway.accounts.role_names import ROLES
from gateway.accounts.roles import RULES, allows
from gateway.dashboard import permissions, routes
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, FulfilmentSetting, MerchantUser, User, table_of
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from tests.fixtures.dashboard import Account, SignUp, form_path, join_as

_K = table_of(ApiKeyRow)
_MU = table_of(MerchantUser)
_U = table_of(User)


def test_every_form_of_the_dashboard_has_an_action() -> None:
    posted = {
        (method, route.path)
        for route in routes()
        if isinstance(route, Route)
        for method in route.methods or ()
        if method not in ("GET", "HEAD")
    }
    assert posted == set(permissions.FORMS) | permissions.SIGNED_OUT
    assert not set(permissions.FORMS) & permissions.SIGNED_OUT


def test_the_table_says_what_each_role_may_do() -> None:
    assert all(allows(role, "read", env) for role in ROLES for env in ("staging", "live"))
    assert allows("developer", "keys", "staging") and not allows("developer", "keys", "live")
    assert allows("developer", "webhooks", "staging") and not allows(
        "developer", "webhooks", "live"
    )
    for action in RULES:
        if action not in ("read", "self", "connect"):
            assert not allows("viewer", action, "staging"), action
            assert allows("owner", action, "live"), action
    # A consent's scopes are bounded by the role's own (grantable_scopes); live is an owner's.
    for role in ROLES:
        assert allows(role, "connect", "staging")
        assert allows(role, "connect", "live") == (role == "owner")
    assert not allows("developer", "members", "staging")
    assert not allows("owner", "keys", "elsewhere")


@pytest.fixture
async def team(app: ASGIApp, sign_up: SignUp) -> dict[str, Account]:
    owner = await sign_up()
    found = {"owner": owner}
    for role in ("developer", "viewer"):
        found[role] = await join_as(app, owner, role)
    return found


async def test_a_viewer_is_refused_on_every_form_and_nothing_changes(
    team: dict[str, Account], db: Database
) -> None:
    viewer = team["viewer"]
    async with db.read() as conn:
        before = (await conn.execute(select(func.count()).select_from(_K))).scalar_one()
    token = await viewer.csrf("/keys")
    for (method, path), action in permissions.FORMS.items():
        if action == "self":
            continue
        data = {"csrf_token": token, "name": "x", "email": "x@example.com", "role": "owner",
                "url": "https://example.com/h", "amount_cents": "100", "code": "ATU-X"}  # fmt: skip
        reply = await viewer.client.request(method, form_path(path), data=data)
        assert reply.status_code == 403, (path, reply.status_code)
        assert "As a viewer you cannot" in reply.text, path
        assert "Ask an owner" in reply.text
    async with db.read() as conn:
        after = (await conn.execute(select(func.count()).select_from(_K))).scalar_one()
    assert after == before
    # Reading is theirs, and the pages show no form they cannot use.
    for path in ("/", "/keys", "/topups", "/wallet", "/webhooks", "/members", "/settings"):
        page = await viewer.client.get(path)
        assert page.status_code == 200, path
    assert 'action="/dashboard/members"' not in (await viewer.client.get("/members")).text


async def test_a_developer_manages_keys_in_staging_only(team: dict[str, Account]) -> None:
    developer = team["developer"]
    made = await developer.post("/keys", {"name": "dev key"}, page="/keys")
    assert made.status_code == 303, made.text
    for path in ("/members", "/settings", "/wallet/redeem"):
        refused = await developer.post(path, {"email": "a@example.com", "code": "x"}, page="/keys")
        assert refused.status_code == 403, path
    switched = await developer.post("/env", {"env": "live", "next": "/dashboard/keys"})
    assert switched.status_code == 303
    refused = await developer.post("/keys", {"name": "live key"}, page="/keys")
    assert refused.status_code == 403
    assert "cannot manage API keys in live" in refused.text
    owner = team["owner"]
    await owner.post("/env", {"env": "live", "next": "/dashboard/keys"})
    assert (await owner.post("/keys", {"name": "live key"}, page="/keys")).status_code == 303


async def test_fulfilment_forms_are_the_owners_alone(
    team: dict[str, Account], db: Database
) -> None:
    """The Fulfilment page's forms (save a provider, test the connection) refuse a developer
    and a viewer at the server, whatever the page showed, and save nothing; an owner may."""

    async def saved() -> int:
        async with db.read() as conn:
            count = select(func.count()).select_from(FulfilmentSetting)
            return int((await conn.execute(count)).scalar_one())

    before = await saved()
    newapi = {"provider": "newapi", "base_url": "https://newapi.example.com",
              "access_token": "t" * 32, "user_id": "1"}  # fmt: skip
    for role in ("developer", "viewer"):
        for path in ("/fulfilment/claude", "/fulfilment/claude/test"):
            refused = await team[role].post(path, newapi, page="/fulfilment")
            assert refused.status_code == 403, (role, path, refused.status_code)
            assert f"As a {role} you cannot manage fulfilment in staging" in refused.text
    assert await saved() == before
    done = await team["owner"].post(
        "/fulfilment/claude", {"provider": "voucher"}, page="/fulfilment"
    )
    assert done.status_code == 303, done.text
    tested = await team["owner"].post("/fulfilment/claude/test", {}, page="/fulfilment")
    # A test that ran redirects to the page, which says how it went (post/redirect/get).
    assert tested.status_code == 303, tested.text
    assert tested.headers["location"].split("?")[0].endswith("/fulfilment")


async def test_owners_change_roles_and_a_merchant_keeps_an_owner(
    team: dict[str, Account], db: Database
) -> None:
    owner, viewer = team["owner"], team["viewer"]
    page = (await owner.client.get("/members")).text
    assert viewer.email in page and "developer" in page
    ids = dict(re.findall(r'data-member="(usr_[0-9a-z]{24})">\s*<td>([^<\s]+)', page))
    owner_id = next(i for i, e in ids.items() if e == owner.email)
    viewer_id = next(i for i, e in ids.items() if e == viewer.email)

    alone = await owner.post(f"/members/{owner_id}/role", {"role": "viewer"}, page="/members")
    assert alone.status_code == 409
    assert "at least one owner" in alone.text
    bad = await owner.post(f"/members/{viewer_id}/role", {"role": "admin"}, page="/members")
    assert bad.status_code == 422

    promoted = await owner.post(f"/members/{viewer_id}/role", {"role": "owner"}, page="/members")
    assert promoted.status_code == 303
    # The new role counts from the member's next request.
    assert (await viewer.post("/keys", {"name": "now allowed"}, page="/keys")).status_code == 303
    # Now the first owner may step down, and the second cannot.
    stepped = await owner.post(f"/members/{owner_id}/role", {"role": "viewer"}, page="/members")
    assert stepped.status_code == 303
    last = await viewer.post(f"/members/{viewer_id}/remove", {}, page="/members")
    assert last.status_code == 409
    removed = await viewer.post(f"/members/{owner_id}/remove", {}, page="/members")
    assert removed.status_code == 303
    # Removed: their session opens this merchant no more.
    assert (await owner.client.get("/keys")).status_code == 303


@pytest.mark.both_stores
async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    db: Database, sign_up: SignUp
) -> None:
    owner = await sign_up()
    async with db.read() as conn:
        merchant_id, first = (
            await conn.execute(
                select(_MU.c.merchant_id, _MU.c.user_id)
                .join(_U, _U.c.id == _MU.c.user_id)
                .where(_U.c.email == owner.email)
            )
        ).one()
    email = f"o2-{uuid.uuid4().hex[:8]}@example.com"
    second = await users.invite(db, merchant_id=merchant_id, email=email, role="owner")
    for _ in range(3):
        results = await asyncio.gather(
            members.change_role(db, merchant_id, first, "developer"),
            members.change_role(db, merchant_id, second.user_id, "developer"),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, ApiError)]
        assert len(refused) == 1 and refused[0].code == Code.LAST_OWNER, results
        async with db.read() as conn:
            owners = (
                await conn.execute(
                    select(func.count()).where(
                        _MU.c.merchant_id == merchant_id, _MU.c.role == "owner"
                    )
                )
            ).scalar_one()
        assert owners == 1
        # Both owners again for the next round.
        await members.change_role(db, merchant_id, first, "owner")
        await members.change_role(db, merchant_id, second.user_id, "owner")


async def test_roles_refused_in_the_service_too(db: Database) -> None:
    with pytest.raises(ApiError) as refused:
        await members.change_role(db, "mer_nope", "usr_nope", "owner")
    assert refused.value.code == Code.MEMBER_NOT_FOUND
    with pytest.raises(ApiError) as bad:
        await members.change_role(db, "mer_nope", "usr_nope", "root")
    assert bad.value.code == Code.ROLE_INVALID
    with pytest.raises(fields.AccountError):
        await users.invite(db, merchant_id="mer_nope", email="a@example.com", role="root")


async def test_a_webhook_urls_query_values_are_shown_only_in_the_edit_form(
    team: dict[str, Account],
) -> None:
    """A receiver's token in its URL's query: no page shows it in clear, to a viewer above all;
    the edit form, which only those who may edit see, holds the URL whole."""
    owner, viewer = team["owner"], team["viewer"]
    url = "https://93.184.215.14/hook?token=sekrit-1234&v=2"
    made = await owner.shown_once("/webhooks/endpoints", {"url": url}, page="/webhooks")
    assert made.status_code == 200, made.text
    assert "sekrit-1234" not in made.text
    found = re.search(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)", made.text)
    assert found is not None
    page = f"/webhooks/endpoints/{found.group(1)}"
    for path in ("/webhooks", page, "/webhooks/deliveries", "/"):
        shown = await viewer.client.get(path)
        assert shown.status_code == 200, (path, shown.text)
        assert "sekrit-1234" not in shown.text, path
    assert "token=***&amp;v=***" in (await viewer.client.get(page)).text
    edit = (await owner.client.get(page)).text
    assert edit.count("sekrit-1234") == 1
    assert 'value="https://93.184.215.14/hook?token=sekrit-1234&amp;v=2"' in edit
