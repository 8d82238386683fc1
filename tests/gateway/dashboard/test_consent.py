"""The consent page gives no more than was asked and bounds an app nobody vouches for: it ticks
only what the app registered and the request asks (never `approvals` for an unverified app),
says what each scope does and whom a charge pays, fills in the merchant's default daily limit
for an unverified app, which the consent then has whether or not the field came back, and says
which rules hold charges. Each on both stores, with the token acting on the REST API."""

import re
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, SignUp
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import REDIRECT, Flow, as_a_browser_sends, register_app

EVERY = "topup:send topup:read billing approvals"
SEND = {"platform": "claude", "recipient_email": "ada@example.com"}


async def _self_registered(app: ASGIApp) -> Flow:
    """An app that registered itself (RFC 7591) asking for every scope, as the `mcp` SDK's
    client does from the metadata."""
    async with asgi_client(app, base_url="http://gateway.test") as root:
        made = await root.post(
            "/oauth/register",
            json={
                "redirect_uris": [REDIRECT],
                "client_name": "Self Agent",
                "scope": EVERY,
                "token_endpoint_auth_method": "none",
            },
        )
    assert made.status_code == 201, made.text
    return Flow(app, made.json()["client_id"], None)


def _ticked(html: str) -> set[str]:
    return set(re.findall(r'name="scopes" value="([^"]+)" checked', html))


async def _token(flow: Flow, person: Account, form: dict[str, Any]) -> dict[str, str]:
    answered = await person.client.post("/oauth/consent", data=form)
    assert answered.status_code == 303, answered.text
    code = re.search(r"code=([^&]+)", answered.headers["location"])
    assert code is not None
    tokens = await flow.token(code.group(1))
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


@pytest.mark.both_stores
async def test_an_unverified_app_gets_what_it_registered_and_a_daily_budget_by_default(
    app: ASGIApp, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    person = await sign_up()
    flow = await _self_registered(app)
    html, _ = await flow.consent_page(person, scope=EVERY)

    assert _ticked(html) == {"topup:send", "topup:read", "billing"}  # never approvals
    assert 'value="approvals"' in html  # offered, for the person to tick
    assert 'name="limit_daily" inputmode="decimal" value="10"' in html
    assert "left empty sets no limit" in html and "never unlimited" in html
    assert "charge fees to this wallet" in html and "no merchant registered this app" in html
    assert 'id="consent-charges"' in html

    me = await _token(flow, person, as_a_browser_sends(html))
    own = (await client.get("/keys/self", headers=me)).json()["data"]
    assert own["policy"]["scopes"] == ["topup:send", "topup:read", "billing"]
    assert own["policy"]["limits"] == [{"amount_cents": 1000, "interval": "daily"}]
    sent = await client.post("/topup/send", json={**SEND, "amount_cents": 1000}, headers=me)
    assert sent.status_code == 200, sent.text
    over = await client.post("/topup/send", json={**SEND, "amount_cents": 1}, headers=me)
    assert over.json()["code"] == 2304, over.text


@pytest.mark.both_stores
async def test_an_unverified_app_is_bounded_even_when_the_field_does_not_come_back(
    app: ASGIApp, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    person = await sign_up()
    flow = await _self_registered(app)
    html, _ = await flow.consent_page(person, scope=EVERY)
    form = as_a_browser_sends(html)
    del form["limit_daily"]
    me = await _token(flow, person, form)
    own = (await client.get("/keys/self", headers=me)).json()["data"]
    assert own["policy"]["limits"] == [{"amount_cents": 1000, "interval": "daily"}]

    # The person widens it by typing more.
    again = await _self_registered(app)
    html, _ = await again.consent_page(person, scope=EVERY)
    wider = await _token(again, person, {**as_a_browser_sends(html), "limit_daily": "50.00"})
    own = (await client.get("/keys/self", headers=wider)).json()["data"]
    assert own["policy"]["limits"] == [{"amount_cents": 5000, "interval": "daily"}]


@pytest.mark.both_stores
async def test_the_merchant_sets_the_default_for_unverified_apps(
    app: ASGIApp, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    person = await sign_up()
    before = (await person.client.get("/settings")).text
    assert 'name="unverified_app_daily" value="10"' in before
    zero = await person.post(
        "/settings",
        {"threshold_staging": "0", "threshold_live": "0", "unverified_app_daily": "0"},
        page="/settings",
    )
    assert zero.status_code == 422 and "at least $0.01" in zero.text
    saved = await person.post(
        "/settings",
        {"threshold_staging": "0", "threshold_live": "0", "unverified_app_daily": "3.00"},
        page="/settings",
    )
    assert saved.status_code == 303, saved.text

    flow = await _self_registered(app)
    html, _ = await flow.consent_page(person, scope=EVERY)
    assert 'name="limit_daily" inputmode="decimal" value="3"' in html
    form = as_a_browser_sends(html)
    form["limit_daily"] = ""
    me = await _token(flow, person, form)
    own = (await client.get("/keys/self", headers=me)).json()["data"]
    assert own["policy"]["limits"] == [{"amount_cents": 300, "interval": "daily"}]


@pytest.mark.both_stores
async def test_a_merchants_app_gets_what_it_asked_and_names_whom_a_charge_pays(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, sign_up: SignUp
) -> None:
    person = await sign_up()
    owner = await make_merchant("live")
    made = await register_app(client, owner, scopes=["topup:read", "billing", "approvals"])
    flow = Flow(app, made["id"], made["client_secret"])
    html, _ = await flow.consent_page(person, scope="topup:read billing")
    assert _ticked(html) == {"topup:read", "billing"}
    assert re.search(r"charge fees to this wallet, payable to [^<]+, the merchant who", html)
    assert 'name="limit_daily" inputmode="decimal" value=""' in html
    me = await _token(flow, person, as_a_browser_sends(html))
    own = (await client.get("/keys/self", headers=me)).json()["data"]
    assert own["policy"]["limits"] == []  # a merchant's own app: as the person gave it
