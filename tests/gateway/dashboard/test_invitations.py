"""Operators invite users: the admin API and ``aitopup users invite`` give a one-time link that
sets the new user's password and signs them in; the link works once."""

import re
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, MerchantUser, User, table_of
from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup, new_merchant
from tests.fixtures.dashboard import (
    PASSWORD,
    SignUp,
    csrf_of,
    dashboard_client,
    sign_in_on,
    sign_up_on,
)


async def _use_link(app: ASGIApp, url: str) -> httpx.Response:
    path = url.split("/dashboard", 1)[1]
    async with dashboard_client(app) as client:
        page = await client.get(path)
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "no-store"
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        done = await client.post(
            "/set-password",
            data={"csrf_token": csrf_of(page.text), "token": token.group(1), "password": PASSWORD},
        )
        if done.status_code == 303:
            overview = await client.get("/")
            assert overview.status_code == 200
        return done


async def test_an_admin_invitation_sets_a_password_once(
    admin_client: httpx.AsyncClient, billing_app: ASGIApp
) -> None:
    made = await admin_client.post("/merchants", json={"name": f"invited-{uuid.uuid4().hex}"})
    merchant_id = made.json()["data"]["id"]
    email = f"New.User-{uuid.uuid4().hex[:8]}@Example.com"
    reply = await admin_client.post(f"/merchants/{merchant_id}/users", json={"email": email})
    assert reply.status_code == 201, reply.text
    assert reply.headers["cache-control"] == "no-store"
    data = reply.json()["data"]
    assert data["email"] == email.lower()
    url = data["set_password_url"]
    assert url.startswith("http://gateway.test/dashboard/set-password?token=")

    assert (await _use_link(billing_app, url)).status_code == 303
    # Used: the same link now finds nothing.
    path = url.split("/dashboard", 1)[1]
    async with dashboard_client(billing_app) as client:
        assert (await client.get(path)).status_code == 404
    # Asked again, a user with a password is only added: no link.
    again = await admin_client.post(f"/merchants/{merchant_id}/users", json={"email": email})
    assert again.json()["data"]["set_password_url"] is None

    bad = await admin_client.post(f"/merchants/{merchant_id}/users", json={"email": "nope"})
    assert bad.status_code == 422
    missing = await admin_client.post("/merchants/mer_nope/users", json={"email": email})
    assert missing.status_code == 404
    assert missing.json()["code"] == 4140


async def test_the_cli_prints_a_one_time_link(
    settings: Settings, app: ASGIApp, tmp_path: Path
) -> None:
    name = f"cli-invite-{tmp_path.name}"
    merchant = await new_merchant(settings, tmp_path, name)
    # `make run PORT=9123` ran in this folder: the link points at that gateway.
    (tmp_path / ".aitopup").mkdir(exist_ok=True)
    (tmp_path / ".aitopup" / "gateway-url").write_text("http://127.0.0.1:9123\n")
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    code, out, err = await aitopup(
        settings, tmp_path, "users", "invite", "--merchant", merchant, "--email", email
    )
    assert code == 0, err
    assert f'belongs to merchant {merchant} ("{name}")' in out
    link = re.search(r"http://\S+/dashboard/set-password\?token=\S+", out)
    assert link is not None
    assert link.group().startswith("http://127.0.0.1:9123/dashboard/set-password?token=")
    assert (await _use_link(app, link.group())).status_code == 303

    code, _, err = await aitopup(
        settings, tmp_path, "users", "invite", "--merchant", merchant, "--email", "not-an-address"
    )
    assert code == 2 and "valid e-mail" in err


_K = table_of(ApiKeyRow)
_MU = table_of(MerchantUser)
_U = table_of(User)


async def _role(db: Database, email: str, merchant_id: str) -> str | None:
    async with db.read() as conn:
        found = await conn.scalar(
            select(_MU.c.role)
            .join(_U, _U.c.id == _MU.c.user_id)
            .where(_U.c.email == email, _MU.c.merchant_id == merchant_id)
        )
    return None if found is None else str(found)


async def test_the_cli_invites_with_a_role(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """``--role`` is what the user joins as (owner when not given); a member asked again keeps
    their role; a role that is none of the three is refused by the command line itself."""
    merchant = await new_merchant(settings, tmp_path, f"cli-roles-{tmp_path.name}")
    for role in ("developer", "viewer", None):
        email = f"{role or 'default'}-{uuid.uuid4().hex[:8]}@example.com"
        extra = ["--role", role] if role else []
        code, out, err = await aitopup(
            settings, tmp_path, "users", "invite", "--merchant", merchant, "--email", email, *extra
        )
        assert code == 0, err
        assert f"as {role or 'owner'}\n" in out
        assert await _role(db, email, merchant) == (role or "owner")
    again_args = ["users", "invite", "--merchant", merchant, "--email", email, "--role", "viewer"]
    code, out, err = await aitopup(settings, tmp_path, *again_args)
    assert code == 0, err
    assert "as owner" in out and await _role(db, email, merchant) == "owner"
    code, _, err = await aitopup(
        settings,
        tmp_path,
        "users",
        "invite",
        "--merchant",
        merchant,
        "--email",
        "x@example.com",
        "--role",
        "admin",
    )
    assert code == 2 and "invalid choice: 'admin'" in err
    assert "owner" in err and "developer" in err and "viewer" in err
    assert await _role(db, "x@example.com", merchant) is None


async def _memberships(db: Database, email: str) -> set[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_MU.c.merchant_id).join(_U, _U.c.id == _MU.c.user_id).where(_U.c.email == email)
        )
        return {r.merchant_id for r in rows}


async def test_a_squatted_name_captures_no_invitation_and_no_key(
    settings: Settings, app: ASGIApp, sign_up: SignUp, db: Database, tmp_path: Path
) -> None:
    """Someone signs up first under the name an operator means to use: the operator's merchant
    is its own, and so are the user and the live key made for it."""
    squatter = await sign_up()
    name = squatter.merchant_name
    (squatted,) = await _memberships(db, squatter.email)
    merchant = await new_merchant(settings, tmp_path, name)
    assert merchant != squatted
    customer = f"customer-{uuid.uuid4().hex[:8]}@example.com"
    code, out, err = await aitopup(
        settings, tmp_path, "users", "invite", "--merchant", merchant, "--email", customer
    )
    assert code == 0, err
    code, out, err = await aitopup(
        settings, tmp_path, "keys", "create", "--env", "live", "--merchant", merchant
    )
    assert code == 0, err
    key_id = re.search(r"key (key_[0-9a-z]{24})", out)
    assert key_id is not None
    assert await _memberships(db, customer) == {merchant}
    assert await _memberships(db, squatter.email) == {squatted}
    async with db.read() as conn:
        owner = await conn.scalar(select(_K.c.merchant_id).where(_K.c.id == key_id.group(1)))
        squatters_keys = await conn.scalar(
            select(_K.c.id).where(_K.c.merchant_id == squatted, _K.c.env == "live")
        )
    assert owner == merchant and squatters_keys is None


async def test_an_invitation_to_an_existing_account_waits_until_it_is_accepted(
    admin_client: httpx.AsyncClient, billing_app: ASGIApp, db: Database
) -> None:
    async with dashboard_client(billing_app) as client:
        account = await sign_up_on(client)
        made = await admin_client.post("/merchants", json={"name": f"inviting-{uuid.uuid4().hex}"})
        merchant_id = made.json()["data"]["id"]
        (own,) = await _memberships(db, account.email)

        reply = await admin_client.post(
            f"/merchants/{merchant_id}/users", json={"email": account.email}
        )
        assert reply.status_code == 201, reply.text
        data = reply.json()["data"]
        assert data["pending"] is True and data["set_password_url"] is None
        assert await _memberships(db, account.email) == {own}  # nothing attached yet
        link = data["accept_url"]
        assert link.startswith(f"http://gateway.test/dashboard/invitations/{merchant_id}/accept?")
        token = link.split("token=", 1)[1]

        # Another signed-in user cannot accept it for them, even holding the link.
        async with dashboard_client(billing_app) as other_client:
            other = await sign_up_on(other_client)
            shown = await other.client.get(link.split("/dashboard", 1)[1])
            assert shown.status_code == 404
            refused = await other.post(f"/invitations/{merchant_id}/accept", {"token": token})
            assert refused.status_code == 404
            assert merchant_id not in await _memberships(db, other.email)

        overview = await account.client.get("/")
        assert merchant_id in overview.text and "through the link" in overview.text
        shown = await account.client.get(link.split("/dashboard", 1)[1])
        assert shown.status_code == 200 and "as <strong>owner</strong>" in shown.text
        accepted = await account.client.post(
            f"/invitations/{merchant_id}/accept",
            data={"csrf_token": csrf_of(shown.text), "token": token},
        )
        assert accepted.status_code == 303
        assert await _memberships(db, account.email) == {own, merchant_id}
        # Spent: it is gone from the page and cannot be accepted again.
        assert merchant_id not in (await account.client.get("/")).text
        again = await account.post(f"/invitations/{merchant_id}/accept", {"token": token})
        assert again.status_code == 404
    # The account still signs in as before.
    async with dashboard_client(billing_app) as client:
        await sign_in_on(client, account.email, PASSWORD)


@pytest.mark.both_stores
async def test_an_account_of_an_invited_address_joins_only_through_its_link_in_its_role(
    app: ASGIApp, db: Database
) -> None:
    """Sign-up checks no address: whoever signed up with the invited address first holds an
    account of it, and accepting needs the link sent to that address, not the account."""
    async with dashboard_client(app) as owner_client, dashboard_client(app) as squat_client:
        owner = await sign_up_on(owner_client)
        squatter = await sign_up_on(squat_client)  # signed up with the address invited next
        (own,) = await _memberships(db, squatter.email)
        (merchant_id,) = await _memberships(db, owner.email)
        invited = await owner.post(
            "/members", {"email": squatter.email, "role": "viewer"}, page="/members"
        )
        assert invited.status_code == 201, invited.text
        assert "That address has an account already" in invited.text
        found = re.search(r'id="invite-link">([^<]+)<', invited.text)
        assert found is not None
        link = found.group(1).replace("&amp;", "&")

        # Without the link's token, or with another, accepting finds nothing.
        for token in ("", "a" * 43):
            refused = await squatter.post(f"/invitations/{merchant_id}/accept", {"token": token})
            assert refused.status_code == 404, refused.text
        assert await _memberships(db, squatter.email) == {own}
        overview = await squatter.client.get("/")
        assert 'action="/dashboard/invitations/' not in overview.text

        # Whoever reads the address has the link: signed in to that account, they join, as the
        # invitation's role and nothing more.
        token = link.split("token=", 1)[1]
        accepted = await squatter.post(f"/invitations/{merchant_id}/accept", {"token": token})
        assert accepted.status_code == 303, accepted.text
        async with db.read() as conn:
            role = await conn.scalar(
                select(_MU.c.role).where(
                    _MU.c.merchant_id == merchant_id,
                    _MU.c.user_id
                    == select(_U.c.id).where(_U.c.email == squatter.email).scalar_subquery(),
                )
            )
        assert role == "viewer"
