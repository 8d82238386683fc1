"""A confidential app through the seed's whole open-platform flow with an OAuth client library
that is not ours (authlib's httpx client), against a served gateway: authorize, the person's
consent, the code, the token, ``me``, the balance, a charge and its refund, and a funding order
for the consenting merchant paid in the staging sandbox. Then a refresh, and a revoke."""

import html
import re
from urllib.parse import urlsplit

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]

from gateway.store.engine import Database
from tests.fixtures.core import local_client
from tests.fixtures.dashboard import csrf_of, sign_up_on
from tests.fixtures.merchants import MakeMerchant, merchant_balance, unbalanced_wallets
from tests.fixtures.oauth import pkce

CALLBACK = "https://app.example/callback"
BACK = "https://app.example/paid"


async def _allow(root: str, web: httpx.AsyncClient, url: str) -> str:
    """The person: follows the link, allows on the consent page; the app's callback URL."""
    async with local_client() as browser:
        sent = await browser.get(url)
    assert sent.status_code == 302, sent.text
    page = await web.get(f"/oauth/consent?{urlsplit(sent.headers['location']).query}")
    sealed = re.search(r'name="request" value="([^"]+)"', page.text)
    merchant = re.search(r'<option value="(mer_[0-9a-z]+)" selected', page.text)
    assert sealed is not None and merchant is not None, page.text
    allowed = await web.post(
        "/oauth/consent",
        data={
            "csrf_token": csrf_of(page.text),
            "request": html.unescape(sealed.group(1)),
            "merchant_id": merchant.group(1),
            "env": "staging",
            "scopes": ["topup:read", "billing"],
            "limit_daily": "50.00",
            "decision": "approve",
        },
    )
    assert allowed.status_code == 303, allowed.text
    return str(allowed.headers["location"])


async def test_a_confidential_app_runs_the_seed_flow_with_authlib(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    root = live_url.removesuffix("/api/public/v1")
    owner = await make_merchant("staging")
    async with local_client(base_url=live_url) as api:
        made = await api.post(
            "/apps",
            headers=owner.headers,
            json={
                "name": "Seat Billing",
                "redirect_uris": [CALLBACK],
                "scopes": ["topup:read", "billing"],
            },
        )
    assert made.status_code == 201, made.text
    registered = made.json()["data"]
    verifier, _ = pkce()
    app = AsyncOAuth2Client(
        client_id=registered["id"],
        client_secret=registered["client_secret"],
        token_endpoint_auth_method="client_secret_post",
        redirect_uri=CALLBACK,
        scope="topup:read billing",
        code_challenge_method="S256",
    )
    url, state = app.create_authorization_url(f"{root}/oauth/authorize", code_verifier=verifier)
    assert f"code_challenge={create_s256_code_challenge(verifier)}" in url
    async with local_client(base_url=f"{root}/dashboard", follow_redirects=False) as web:
        await sign_up_on(web)
        callback = await _allow(root, web, url)
    token = await app.fetch_token(
        f"{root}/oauth/token", authorization_response=callback, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer" and token["access_token"].startswith("oat_staging_")

    me = (await app.get(f"{live_url}/me")).json()["data"]
    assert me["app"]["name"] == "Seat Billing" and me["env"] == "staging"
    payer = await make_merchant("staging", merchant_id=me["merchant"]["id"])
    start = (await app.get(f"{live_url}/balance")).json()["data"]["balance_cents"]

    charged = await app.post(
        f"{live_url}/charges",
        json={"amount_cents": 1500, "description": "November seats"},
        headers={"Idempotency-Key": f"{state}-seats"},
    )
    assert charged.status_code == 201, charged.text
    refunded = await app.post(
        f"{live_url}/charges/{charged.json()['data']['id']}/refund", json={"amount_cents": 500}
    )
    assert refunded.json()["data"]["refunded_cents"] == 500
    assert await merchant_balance(db, payer) == start - 1000

    # An order for the consenting merchant, its link for a person to pay (the sandbox here).
    order = await app.post(
        f"{live_url}/billing/checkout",
        json={"pack_id": "pack_starter", "success_url": BACK, "cancel_url": BACK},
    )
    assert order.status_code == 201, order.text
    async with local_client() as browser:
        page = await browser.get(order.json()["data"]["checkout_url"])
        pay = html.unescape(re.findall(r'action="([^"]+)"', page.text)[0])
        paid = await browser.post(root + pay)
    assert paid.status_code == 303
    assert await merchant_balance(db, payer) == start - 1000 + 500
    assert await unbalanced_wallets(db) == []

    # A refresh gives a new pair; a revoke ends the grant from the next request.
    renewed = await app.refresh_token(f"{root}/oauth/token")
    assert renewed["access_token"] != token["access_token"]
    revoked = await app.revoke_token(f"{root}/oauth/revoke", token=renewed["refresh_token"])
    assert revoked.status_code == 200, revoked.text
    refused = await app.get(f"{live_url}/balance")
    assert refused.status_code == 401 and refused.json()["code"] == 2405
    await app.aclose()
