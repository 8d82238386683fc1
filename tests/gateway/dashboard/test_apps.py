"""The Apps and Connected apps pages: an app registered through the form (its secret shown
once, on a page no cache keeps), rotated and deleted; a consent listed and revoked; each form
taken only by a role that may manage keys."""

import re

import httpx
import pytest
from starlette.types import ASGIApp

from gateway.store.engine import Database
from tests.fixtures.dashboard import Account, dashboard_client, join_as, sign_up_on
from tests.fixtures.oauth import REDIRECT, Flow
from tests.fixtures.rows import row_counts


async def _register(owner: Account, **fields: str) -> httpx.Response:
    data = {"name": "Ledger Lens", "redirect_uris": REDIRECT, "scopes": "topup:read", **fields}
    return await owner.shown_once("/apps", {**data, "confidential": "on"}, page="/apps")


async def test_an_app_is_registered_its_secret_shown_once_rotated_and_deleted(
    app: ASGIApp,
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    shown = await _register(owner)
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"] == "no-store"
    secret = re.search(r'id="client-secret">(ocs_[0-9A-Za-z]{43})<', shown.text)
    client_id = re.search(r'id="client-id">(app_[0-9a-z]{24})<', shown.text)
    assert secret is not None and client_id is not None
    listing = await owner.client.get("/apps")
    assert client_id.group(1) in listing.text and secret.group(1) not in listing.text

    rotated = await owner.shown_once(f"/apps/{client_id.group(1)}/rotate", {}, page="/apps")
    fresh = re.search(r'id="client-secret">(ocs_[0-9A-Za-z]{43})<', rotated.text)
    assert fresh is not None and fresh.group(1) != secret.group(1)
    assert "previous secret works until" in rotated.text

    deleted = await owner.post(f"/apps/{client_id.group(1)}/delete", {}, page="/apps")
    assert deleted.status_code == 303
    assert client_id.group(1) not in (await owner.client.get("/apps")).text


async def test_a_bad_registration_says_why_and_makes_nothing(app: ASGIApp) -> None:
    owner = await sign_up_on(dashboard_client(app))
    refused = await owner.post(
        "/apps",
        {"name": "Leaky", "redirect_uris": "http://app.example/cb", "scopes": "topup:read"},
        page="/apps",
    )
    assert refused.status_code == 422
    assert "http on a loopback address" in refused.text
    assert 'id="apps"' not in refused.text


async def test_a_viewer_may_not_register_an_app(app: ASGIApp) -> None:
    owner = await sign_up_on(dashboard_client(app))
    viewer = await join_as(app, owner, "viewer")
    refused = await viewer.post(
        "/apps", {"name": "No", "redirect_uris": REDIRECT, "scopes": "topup:read"}, page="/apps"
    )
    assert refused.status_code == 403


async def test_a_connected_app_is_listed_and_revoked(
    app: ASGIApp, client: httpx.AsyncClient
) -> None:
    maker = await sign_up_on(dashboard_client(app))
    shown = await _register(maker, scopes="topup:read")
    found = re.search(r'id="client-id">(app_[0-9a-z]{24})<', shown.text)
    secret = re.search(r'id="client-secret">(ocs_[0-9A-Za-z]{43})<', shown.text)
    assert found is not None and secret is not None
    person = await sign_up_on(dashboard_client(app))
    flow = Flow(app, found.group(1), secret.group(1))
    tokens = await flow.tokens(person, form={"scopes": ["topup:read"]}, scope="topup:read")
    token = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/balance", headers=token)).status_code == 200

    listed = await person.client.get("/apps/connected")
    assert "Ledger Lens" in listed.text and person.email in listed.text
    key_id = re.search(r'data-connection="(key_[0-9a-z]{24})"', listed.text)
    assert key_id is not None
    revoked = await person.post(
        f"/apps/connected/{key_id.group(1)}/revoke", {}, page="/apps/connected"
    )
    assert revoked.status_code == 303
    assert (await client.get("/balance", headers=token)).json()["code"] == 2405
    # The app's maker sees none of it: a consent is the consenting merchant's.
    assert "Ledger Lens" not in (await maker.client.get("/apps/connected")).text


@pytest.mark.both_stores
@pytest.mark.parametrize(
    "fields",
    [{"name": "Ledger\x00"}, {"redirect_uris": REDIRECT + "\x00"}, {"scopes\x00": "topup:read"}],
    ids=["name", "redirect URI", "field name"],
)
async def test_a_nul_in_a_form_is_refused_and_makes_nothing(
    app: ASGIApp, db: Database, fields: dict[str, str]
) -> None:
    """PostgreSQL cannot store a NUL (an app named with one answered 500 there): the one form
    reader refuses it for every page, before the form's handler reads it."""
    owner = await sign_up_on(dashboard_client(app))
    before = await row_counts(db)
    data = {"name": "Ledger Lens", "redirect_uris": REDIRECT, "scopes": "topup:read", **fields}
    refused = await owner.post("/apps", data, page="/apps")
    assert refused.status_code == 400
    assert "NUL" in refused.text
    assert await row_counts(db) == before
