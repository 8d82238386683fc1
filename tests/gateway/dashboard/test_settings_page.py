"""Settings: the merchant sets its display name and each environment's low-balance threshold
itself, through the same change the admin API's merchant PATCH makes; the send's key lookup and
the dashboard read the threshold of their environment."""

import re
import uuid

import httpx
from starlette.types import ASGIApp

from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, SignUp


async def _staging_key(owner: Account) -> str:
    shown = await owner.shown_once(
        "/keys", {"name": "settings", "scopes": "topup:read"}, page="/keys"
    )
    found = re.search(r'id="new-key">(ak_staging_\w+)<', shown.text)
    assert found is not None
    return found.group(1)


async def _threshold(app: ASGIApp, key: str) -> int:
    async with asgi_client(app, "http://gateway.test/api/public/v1") as api:
        reply = await api.get("/balance", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200, reply.text
    return int(reply.json()["data"]["low_balance_threshold_cents"])


async def test_an_owner_sets_the_name_and_the_threshold_of_each_environment(
    app: ASGIApp, sign_up: SignUp
) -> None:
    owner = await sign_up()
    key = await _staging_key(owner)
    assert await _threshold(app, key) == 1_000  # the default, until the merchant says
    saved = await owner.post(
        "/settings",
        {"display_name": "  Acme Credits ", "threshold_staging": "12.50", "threshold_live": "$3"},
        page="/settings",
    )
    assert saved.status_code == 303, saved.text
    page = (await owner.client.get("/settings")).text
    assert 'value="12.50"' in page and 'value="3"' in page
    assert "Acme Credits" in (await owner.client.get("/")).text  # the header's name
    assert await _threshold(app, key) == 1_250

    cleared = await owner.post(
        "/settings",
        {"display_name": "", "threshold_staging": "0", "threshold_live": "3"},
        page="/settings",
    )
    assert cleared.status_code == 303
    assert owner.merchant_name in (await owner.client.get("/")).text
    assert await _threshold(app, key) == 0


async def test_every_error_of_the_form_at_once_with_the_input_kept(sign_up: SignUp) -> None:
    owner = await sign_up()
    refused = await owner.post(
        "/settings",
        {"display_name": "x" * 201, "threshold_staging": "ten", "threshold_live": "99999999"},
        page="/settings",
    )
    assert refused.status_code == 422
    text = refused.text
    assert "correct the 3 fields" in text
    assert 'id="display_name-error"' in text
    assert 'id="threshold_staging-error"' in text and 'value="ten"' in text
    assert 'id="threshold_live-error"' in text and "At most $1,000,000.00" in text
    # Nothing was saved.
    assert 'value="10"' in (await owner.client.get("/settings")).text


async def test_the_admin_patch_sets_one_environment_or_both(
    admin_client: httpx.AsyncClient,
) -> None:
    made = await admin_client.post("/merchants", json={"name": f"t-{uuid.uuid4().hex}"})
    merchant_id = made.json()["data"]["id"]
    one = await admin_client.patch(
        f"/merchants/{merchant_id}", json={"low_balance_threshold_cents": 700, "env": "live"}
    )
    assert one.status_code == 200, one.text
    assert one.json()["data"]["low_balance_thresholds"] == {"staging": 1_000, "live": 700}
    both = await admin_client.patch(
        f"/merchants/{merchant_id}", json={"low_balance_threshold_cents": 300}
    )
    assert both.json()["data"]["low_balance_thresholds"] == {"staging": 300, "live": 300}
    bad = await admin_client.patch(
        f"/merchants/{merchant_id}", json={"low_balance_threshold_cents": 300, "env": "prod"}
    )
    assert bad.status_code == 422
