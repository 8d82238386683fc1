"""``payments:send`` (pay sellers' 402s from the wallet) on an app's consent: never ticked for
the person, and never given to an app nobody vouches for (a client that registered itself),
whatever its row says, on the consent page or by a change of the consent's policy."""

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update
from starlette.types import ASGIApp

from gateway.apps import grants
from gateway.apps.registry import App
from gateway.policies.model import DEFAULT_SCOPES, Scope
from gateway.store.engine import Database
from gateway.store.models import OAuthApp, table_of
from tests.fixtures.dashboard import Account, dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.oauth import Flow, register_app

PAYING: Scope = "payments:send"


def _app(scopes: tuple[str, ...], *, verified: bool) -> App:
    return App(
        id="app_x",
        merchant_id="mer_x" if verified else None,
        name="X",
        homepage_url=None,
        logo_url=None,
        redirect_uris=(),
        scopes=scopes,
        confidential=True,
        verified=verified,
        registered_by="mer_x" if verified else "dynamic",
        created_at=datetime(2026, 11, 28, tzinfo=UTC),
        secret_hash=None,
        previous_secret_hash=None,
        previous_secret_expires_at=None,
    )


async def _consent_of(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, tokens: dict[str, Any]
) -> tuple[MerchantKey, dict[str, Any]]:
    """A key of the merchant the ``tokens``' consent was given on (every scope), and the
    consent as ``GET /connections`` lists it."""
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = (await client.get("/me", headers=bearer)).json()["data"]
    merchant = await make_merchant("staging", merchant_id=me["merchant"]["id"])
    [connection] = (await client.get("/connections", headers=merchant.headers)).json()["data"]
    return merchant, connection


def test_it_is_never_a_default_never_ticked_and_never_an_unverified_apps() -> None:
    assert PAYING not in DEFAULT_SCOPES
    asked = ["topup:read", PAYING]
    vouched, unvouched = _app(tuple(asked), verified=True), _app(tuple(asked), verified=False)
    for env in ("staging", "live"):
        assert PAYING in grants.grantable(vouched, "owner", env)
        assert PAYING not in grants.grantable(unvouched, "owner", env)
    assert grants.grantable(vouched, "developer", "staging") >= {PAYING}
    for found in (vouched, unvouched):
        assert grants.preticked(found, asked) == ["topup:read"]


async def test_the_consent_page_offers_it_unticked_to_an_app_a_merchant_registered(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=["topup:read", PAYING])
    flow = Flow(app, made["id"], made["client_secret"])
    person: Account = await sign_up_on(dashboard_client(app))
    try:
        html, _ = await flow.consent_page(person, scope=f"topup:read {PAYING}")
        assert f'value="{PAYING}">' in html
        assert f'value="{PAYING}" checked' not in html
        assert 'value="topup:read" checked' in html
        tokens = await flow.tokens(
            person, scope=f"topup:read {PAYING}", form={"scopes": ["topup:read", PAYING]}
        )
        assert set(tokens["scope"].split()) == {"topup:read", PAYING}
    finally:
        await flow.oauth.aclose()


async def test_an_unverified_apps_consent_cannot_be_given_it(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=["topup:read", PAYING])
    # The same app, as one no merchant registered: nobody vouches for it.
    apps = table_of(OAuthApp)
    async with db.transaction() as conn:
        await conn.execute(
            update(apps)
            .where(apps.c.id == made["id"])
            .values(merchant_id=None, verified=False, registered_by="dynamic")
        )
    flow = Flow(app, made["id"], made["client_secret"])
    person: Account = await sign_up_on(dashboard_client(app))
    try:
        html, _ = await flow.consent_page(person, scope=f"topup:read {PAYING}")
        assert f'value="{PAYING}"' not in html
        ticked = await flow.consent(
            person, scope=f"topup:read {PAYING}", form={"scopes": ["topup:read", PAYING]}
        )
        assert ticked.status_code == 403, ticked.text
        assert "location" not in ticked.headers
        tokens = await flow.tokens(person, scope="topup:read", form={"scopes": ["topup:read"]})
    finally:
        await flow.oauth.aclose()
    # Nor by a change of the consent's policy afterwards, by the merchant that gave it.
    merchant, connection = await _consent_of(client, make_merchant, tokens)
    widened = await client.patch(
        f"/connections/{connection['id']}",
        json={"policy": {"scopes": ["topup:read", PAYING]}},
        headers=merchant.headers,
    )
    assert (widened.status_code, widened.json()["code"]) == (403, 2310), widened.text
    assert widened.json()["data"] == {"scopes": [PAYING]}


async def test_no_key_widens_a_consent_to_it_a_person_did_not_choose(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    """A key of the merchant, holding ``payments:send`` itself, cannot add it (nor
    ``keys:manage``) to an app's consent by changing its policy: only a person adds a scope a
    person must choose, on the consent page."""
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=["topup:read", PAYING, "keys:manage"])
    flow = Flow(app, made["id"], made["client_secret"])
    person: Account = await sign_up_on(dashboard_client(app))
    try:
        tokens = await flow.tokens(person, scope="topup:read", form={"scopes": ["topup:read"]})
    finally:
        await flow.oauth.aclose()
    merchant, connection = await _consent_of(client, make_merchant, tokens)
    for scope in (PAYING, "keys:manage"):
        widened = await client.patch(
            f"/connections/{connection['id']}",
            json={"policy": {"scopes": ["topup:read", scope]}},
            headers=merchant.headers,
        )
        assert (widened.status_code, widened.json()["code"]) == (403, 2310), widened.text
        assert widened.json()["data"] == {"scopes": [scope]}
    [after] = (await client.get("/connections", headers=merchant.headers)).json()["data"]
    assert after["policy"]["scopes"] == ["topup:read"]
