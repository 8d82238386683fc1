"""Every absolute link the gateway gives (in mail, in a reply, on a page) is built on the public
base URL, never on the request's ``Host``, which its client chooses: here the base is unset, so
links are on ``mail.links.DEFAULT_BASE_URL`` (``aitopup serve`` sets the base to the address it
serves on), whatever ``Host`` a request forges."""

import re
import uuid

from starlette.types import ASGIApp

from gateway.values.public_base import DEFAULT_BASE_URL
from tests.fixtures.billing import ADMIN_TOKEN
from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant

FORGED = {"Host": "evil.example"}
SEND = {"platform": "claude", "amount_cents": 700, "recipient_email": "dee@example.com"}
CHECKOUT = {
    "pack_id": "pack_pro",
    "success_url": "https://merchant.example/paid",
    "cancel_url": "https://merchant.example/cancelled",
}


def _on_base(*texts: str) -> None:
    for text in texts:
        assert DEFAULT_BASE_URL + "/" in text and "evil.example" not in text


async def test_api_replies_and_mail_build_links_on_the_public_base(
    fulfil_app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    headers = {**merchant.headers, **FORGED}
    async with asgi_client(fulfil_app) as client:
        assert (await client.post("/topup/send", json=SEND, headers=headers)).status_code == 200
        [mail] = (await client.get("/emails", headers=headers)).json()["data"]
        assert mail["link"].startswith(DEFAULT_BASE_URL + "/dashboard/recipient/")
        one = (await client.get(f"/emails/{mail['id']}", headers=headers)).json()["data"]
        _on_base(mail["text"], mail["html"], one["text"], one["html"])
        info = (await client.get("/billing/topup-info", headers=headers)).json()["data"]
        assert info["wallet_url"] == DEFAULT_BASE_URL + "/dashboard/wallet"
        made = await client.post("/billing/checkout", json=CHECKOUT, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["data"]["checkout_url"].startswith(DEFAULT_BASE_URL + "/api/")

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", **FORGED}
    async with asgi_client(fulfil_app, "http://gateway.test/api/admin/v1") as operator:
        invited = await operator.post(
            f"/merchants/{merchant.merchant_id}/users",
            json={"email": f"u-{uuid.uuid4().hex[:8]}@example.com"},
            headers=admin,
        )
        assert invited.status_code == 201, invited.text
        assert invited.json()["data"]["set_password_url"].startswith(DEFAULT_BASE_URL + "/")


async def test_dashboard_pages_build_links_on_the_public_base(fulfil_app: ASGIApp) -> None:
    async with dashboard_client(fulfil_app) as browser:
        owner = await sign_up_on(browser)
        browser.headers.update(FORGED)
        invited = await owner.post(
            "/members",
            {"email": f"m-{uuid.uuid4().hex[:8]}@example.com", "role": "viewer"},
            page="/members",
        )
        assert invited.status_code == 201, invited.text
        link = re.search(r'id="invite-link">([^<]+)<', invited.text)
        assert link is not None and link.group(1).startswith(DEFAULT_BASE_URL + "/")
        developers = await browser.get("/developers")
        assert developers.status_code == 200
        assert "evil.example" not in developers.text
        assert DEFAULT_BASE_URL + "/api/public/v1" in developers.text
        paid = await owner.post("/wallet/checkout", {"pack_id": "pack_pro"}, page="/wallet")
        assert paid.status_code == 303, paid.text
        assert paid.headers["location"].startswith(DEFAULT_BASE_URL + "/api/public/v1/billing/")
