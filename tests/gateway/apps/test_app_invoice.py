"""Seed 004's platform: an app acting for a merchant places its invoice order. A person of the
merchant consents, live, with ``billing``; the app's ``oat_live_`` token posts the order as
seed 004 posts it (a form), Stripe (stood in) makes the invoice, and the order is the merchant's,
its invoice mailed to that person. On each store."""

from collections.abc import AsyncIterator

import pytest
from starlette.types import ASGIApp

from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import Flow, register_app


@pytest.fixture
async def stripe_app(stripe_stood_in_settings: Settings) -> AsyncIterator[ASGIApp]:
    async with running_app(stripe_stood_in_settings) as app:
        yield app


async def test_an_apps_live_token_places_an_invoice_order(
    stripe_app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("live")
    async with asgi_client(stripe_app) as api:
        made = await register_app(api, owner)
        flow = Flow(stripe_app, made["id"], made["client_secret"])
        person = await sign_up_on(dashboard_client(stripe_app))
        form = {"env": "live", "scopes": ["billing", "topup:read"]}
        tokens = await flow.tokens(person, form=form)
        assert tokens["access_token"].startswith("oat_live_"), tokens
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        ordered = await api.post(
            "/billing/invoice",
            data={"pack_id": "pack_pro", "email": person.email, "days_until_due": "14"},
            headers=bearer,
        )
        assert ordered.status_code == 201, ordered.text
        order = ordered.json()["data"]
        assert order["kind"] == "invoice" and order["invoice_url"], order
        # The merchant's order, read back by the same token; a stranger's address is refused.
        listed = await api.get("/billing/history", headers=bearer)
        assert order["id"] in listed.text, listed.text
        stranger = await api.post(
            "/billing/invoice",
            data={"pack_id": "pack_pro", "email": "nobody@example.com"},
            headers=bearer,
        )
        assert stranger.status_code >= 400 and stranger.json()["success"] is False
        # A token without billing may not order.
        narrow = await flow.tokens(person, form={"env": "live", "scopes": ["topup:read"]})
        refused = await api.post(
            "/billing/invoice",
            data={"pack_id": "pack_pro", "email": person.email},
            headers={"Authorization": f"Bearer {narrow['access_token']}"},
        )
        assert refused.json()["code"] == 2301, refused.text
