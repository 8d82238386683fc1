"""``billing:card`` (charge the merchant's saved card) is a key's alone: the owner's key form
offers it and says what it does, and no consent ever holds it. An app cannot register for it,
the authorization server neither lists it nor takes a request for it, the consent page never
offers it, a form that ticks it anyway is refused, and a consent written with it is refused
where a consent's scopes are decided, whatever the app's row says."""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.types import ASGIApp

from gateway.apps import grants
from gateway.apps.registry import App
from gateway.merchants import keys as key_service
from gateway.policies.model import Policy, Scope
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.outcome import ApiError
from tests.fixtures.core import TEST_PEPPER
from tests.fixtures.dashboard import Account, dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import Flow, register_app

CARD: Scope = "billing:card"


async def test_an_app_cannot_register_for_it_nor_is_it_listed(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("staging")
    body = {
        "name": "Fees",
        "redirect_uris": ["https://fees.example/cb"],
        "scopes": ["billing", CARD],
    }
    refused = await client.post("/apps", json=body, headers=owner.headers)
    assert refused.json()["code"] == 3001, refused.text
    assert "only the merchant's own key holds billing:card" in refused.text
    made = await register_app(client, owner, scopes=["billing"])
    widened = await client.patch(
        f"/apps/{made['id']}", json={"scopes": ["billing", CARD]}, headers=owner.headers
    )
    assert widened.json()["code"] == 3001, widened.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
    ) as http:
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
        registered = await http.post(
            "/oauth/register",
            json={"redirect_uris": ["http://127.0.0.1:7/cb"], "scope": f"billing {CARD}"},
        )
    assert CARD not in metadata["scopes_supported"]
    assert registered.status_code == 400, registered.text


async def test_the_consent_page_never_offers_it_and_a_form_that_ticks_it_is_refused(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=["billing", "topup:read"])
    flow = Flow(app, made["id"], made["client_secret"])
    person: Account = await sign_up_on(dashboard_client(app))
    # The owner's own key form offers it, with its words.
    form = await person.client.get("/keys")
    assert form.status_code == 200, form.text
    assert f'value="{CARD}"> <code>{CARD}</code>: charge the merchant&#39;s saved card' in form.text

    # Asked for, the authorization server refuses it back to the app: no consent page at all.
    asked = await flow.authorize(scope=f"billing topup:read {CARD}")
    assert asked.status_code == 302, asked.text
    back = urlsplit(asked.headers["location"])
    assert back.path == "/callback" and parse_qs(back.query)["error"] == ["invalid_scope"]
    html, _ = await flow.consent_page(person, scope="billing topup:read")
    assert CARD not in html
    # A form that ticks it anyway gives nothing: refused, no code back to the app.
    ticked = await flow.consent(person, scope="billing", form={"scopes": ["billing", CARD]})
    assert ticked.status_code == 403, ticked.text
    assert "location" not in ticked.headers
    tokens = await flow.tokens(person, scope="billing", form={"scopes": ["billing"]})
    assert tokens["scope"] == "billing"
    await flow.oauth.aclose()


def _app(scopes: tuple[str, ...]) -> App:
    return App(
        id="app_x",
        merchant_id="mer_x",
        name="X",
        homepage_url=None,
        logo_url=None,
        redirect_uris=(),
        scopes=scopes,
        confidential=True,
        verified=True,
        registered_by="mer_x",
        created_at=datetime(2026, 11, 27, tzinfo=UTC),
        secret_hash=None,
        previous_secret_hash=None,
        previous_secret_expires_at=None,
    )


async def test_a_consent_is_never_given_it_whatever_its_row_says(
    db: Database, make_merchant: MakeMerchant
) -> None:
    # An app row that names it (written by hand, or by an older gateway) gives it to no one.
    found = _app(("billing", CARD))
    for env in ("staging", "live"):
        assert grants.grantable(found, "owner", env) == frozenset({"billing"})
    assert grants.preticked(found, ["billing", CARD]) == ["billing"]
    # And the consent's own write refuses it, whoever acts.
    merchant = await make_merchant("staging")
    actor = key_service.by_role(merchant.merchant_id, "staging", frozenset({CARD}), True, "")
    async with db.transaction() as conn:
        with pytest.raises(ApiError) as refused:
            await key_service.create(
                conn,
                actor,
                name="X",
                policy=Policy(scopes=("billing", CARD)),
                pepper=TEST_PEPPER.encode(),
                now=utcnow(),
                cap=100,
                consent=True,
            )
    assert refused.value.code == 2310
    assert refused.value.data == {"scopes": [CARD]}
