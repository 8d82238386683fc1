"""A consent (an app's connection) naming a policy template acts under it, as a key does: an
app's charge is refused above the template's cap with the code a consent's own cap answers, and
admitted once the template loosens; the template lists the consent among what names it and is
kept while it does."""

import httpx
from starlette.types import ASGIApp

from tests.fixtures.dashboard import Account, dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import Flow, register_app

FEE = {"amount_cents": 100, "description": "Monthly seat"}


async def test_a_consent_under_a_template_charges_within_it(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=["billing", "topup:read"])
    flow = Flow(app, made["id"], made["client_secret"])
    person: Account = await sign_up_on(dashboard_client(app))
    tokens = await flow.tokens(person, scope="billing topup:read", form={"scopes": ["billing"]})
    token = {"Authorization": f"Bearer {tokens['access_token']}"}
    payer_id = (await client.get("/me", headers=token)).json()["data"]["merchant"]["id"]
    payer = await make_merchant("staging", merchant_id=payer_id)

    template = await client.post(
        "/policy-templates",
        json={"name": "apps", "policy": {"scopes": ["billing"], "max_per_send_cents": 50}},
        headers=payer.headers,
    )
    template_id = template.json()["data"]["id"]
    (consent,) = (await client.get("/connections", headers=payer.headers)).json()["data"]
    named = await client.patch(
        f"/connections/{consent['id']}",
        json={"policy": {"scopes": ["billing"], "template": template_id}},
        headers=payer.headers,
    )
    assert named.status_code == 200, named.text

    capped = await client.post("/charges", json=FEE, headers={**token, "Idempotency-Key": "a"})
    assert (capped.status_code, capped.json()["code"]) == (403, 2305), capped.text
    refs = await client.get(f"/policy-templates/{template_id}/references", headers=payer.headers)
    assert [(r["id"], r["kind"], r["app_id"]) for r in refs.json()["data"]] == [
        (consent["id"], "consent", made["id"])
    ]
    kept = await client.delete(f"/policy-templates/{template_id}", headers=payer.headers)
    assert kept.json()["data"] == {"keys": 0, "consents": 1}

    loosened = await client.patch(
        f"/policy-templates/{template_id}",
        json={"policy": {"max_per_send_cents": 500}},
        headers=payer.headers,
    )
    assert loosened.status_code == 200, loosened.text
    charged = await client.post("/charges", json=FEE, headers={**token, "Idempotency-Key": "b"})
    assert charged.status_code == 201, charged.text
