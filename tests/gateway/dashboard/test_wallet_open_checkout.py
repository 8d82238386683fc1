"""The Wallet page's open subscription checkout: a checkout opened and left unpaid is shown with
"Continue the checkout" (its own link) and "Cancel the checkout", instead of a refusal that says
the merchant is subscribed; cancelling (an owner's, CSRF-checked, as every form) frees the place
at once. A viewer sees it and cannot cancel it."""

from urllib.parse import urlsplit

from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.billing import make_staging_plan
from tests.fixtures.dashboard import SignUp, join_as

WALLET = "/wallet"
CANCEL = "/wallet/subscription/checkout/cancel"


async def test_an_unpaid_checkout_is_continued_or_cancelled_on_the_wallet_page(
    app: ASGIApp, sign_up: SignUp, db: Database, settings: Settings
) -> None:
    plan = await make_staging_plan(
        db,
        settings,
        name="Open Plan",
        price_monthly=1200,
        price_yearly=12000,
        credits_included=1500,
    )
    owner = await sign_up()
    opened = await owner.post("/wallet/subscribe", {"plan_id": plan.id}, page=WALLET)
    assert opened.status_code == 303, opened.text
    checkout = opened.headers["location"]

    shown = await owner.client.get(WALLET)
    assert 'id="open-checkout"' in shown.text and "Open Plan" in shown.text
    assert f'id="continue-checkout" href="{checkout.replace("&", "&amp;")}"' in shown.text
    assert 'id="cancel-checkout"' in shown.text and 'id="subscribe"' not in shown.text

    viewer = await join_as(app, owner, "viewer")
    seen = await viewer.client.get(WALLET)
    assert 'id="open-checkout"' in seen.text and 'id="cancel-checkout"' not in seen.text
    assert (await viewer.post(CANCEL, {}, page=WALLET)).status_code == 403
    forged = await owner.client.post(CANCEL, data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert 'id="open-checkout"' in (await owner.client.get(WALLET)).text

    cancelled = await owner.post(CANCEL, {}, page=WALLET)
    assert cancelled.status_code == 303
    back = urlsplit(cancelled.headers["location"])
    assert (back.path, back.query) == ("/dashboard/wallet", "notice=checkout-ended")
    after = await owner.client.get(f"{WALLET}?notice=checkout-ended")
    assert "nothing was charged" in after.text
    assert 'id="open-checkout"' not in after.text and 'id="subscribe"' in after.text
    again = await owner.post("/wallet/subscribe", {"plan_id": plan.id}, page=WALLET)
    assert again.status_code == 303 and again.headers["location"] != checkout

    # Cancelled twice: the form says nothing is open, not a 500.
    await owner.post(CANCEL, {}, page=WALLET)
    twice = await owner.post(CANCEL, {}, page=WALLET)
    assert twice.status_code == 404 and "No open subscription checkout" in twice.text
