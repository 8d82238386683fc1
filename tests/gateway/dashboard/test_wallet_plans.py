"""The wallet page's plans: the staging plans on sale, subscribing through the sandbox checkout,
the subscription shown, and its portal."""

from urllib.parse import urlsplit

import httpx

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.billing import make_staging_plan
from tests.fixtures.dashboard import SignUp

WALLET = "/wallet"


async def test_a_plan_is_bought_on_the_wallet_page_and_shown_with_its_portal(
    sign_up: SignUp, client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    plan = await make_staging_plan(
        db,
        settings,
        name="Wallet Plan",
        price_monthly=1200,
        price_yearly=12000,
        credits_included=1500,
        features=["Refills monthly"],
    )
    account = await sign_up()
    page = await account.client.get(WALLET)
    assert page.status_code == 200
    assert "Wallet Plan" in page.text and "Refills monthly" in page.text
    assert 'id="subscribe"' in page.text and 'id="subscription"' not in page.text

    reply = await account.post(
        "/wallet/subscribe", {"plan_id": plan.id, "interval": "month"}, page=WALLET
    )
    assert reply.status_code == 303, reply.text
    assert reply.headers["cache-control"] == "no-store"
    location = reply.headers["location"]
    assert urlsplit(location).path.startswith("/api/public/v1/subscription/sandbox/sub_")
    paid = await client.post(location.replace("?", "/pay?"))
    assert paid.status_code == 303
    back = urlsplit(paid.headers["location"])
    assert (back.path, back.query) == ("/dashboard/wallet", "notice=subscribed")

    shown = await account.client.get(f"{WALLET}?notice=subscribed")
    assert 'id="subscription-status">active<' in shown.text
    assert 'id="subscription-plan">Wallet Plan<' in shown.text
    assert '<p class="figure" id="balance">$1,015.00</p>' in shown.text
    assert 'id="subscribe"' not in shown.text

    portal = await account.post("/wallet/subscription/portal", {}, page=WALLET)
    assert portal.status_code == 303
    assert "/portal?token=" in portal.headers["location"]
    opened = await client.get(portal.headers["location"])
    assert opened.status_code == 200 and "Cancel at period end" in opened.text

    refused = await account.post("/wallet/subscribe", {"plan_id": plan.id}, page=WALLET)
    assert refused.status_code == 409
    assert 'id="subscribe-error"' in refused.text and "already has a subscription" in refused.text
