"""Operators invite users: the admin API and ``aitopup users invite`` give a one-time link that
sets the new user's password and signs them in; the link works once."""

import re
import uuid
from pathlib import Path

import httpx
from starlette.types import ASGIApp

from gateway.settings import Settings
from tests.gateway.dashboard.conftest import PASSWORD, csrf_of, dashboard_client
from tests.gateway.test_cli import aitopup


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
    merchant = f"cli-invite-{tmp_path.name}"
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    code, out, err = await aitopup(
        settings, tmp_path, "users", "invite", "--merchant", merchant, "--email", email
    )
    assert code == 0, err
    link = re.search(r"http://\S+/dashboard/set-password\?token=\S+", out)
    assert link is not None
    assert (await _use_link(app, link.group())).status_code == 303

    code, _, err = await aitopup(
        settings, tmp_path, "users", "invite", "--merchant", merchant, "--email", "not-an-address"
    )
    assert code == 2 and "valid e-mail" in err
