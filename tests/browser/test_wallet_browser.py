"""The wallet page in a real browser, against a live gateway: a pack bought through the staging
sandbox checkout and a code redeemed on the page both land in the balance, the funding history,
the ledger and the credit grants (bought and promotional, at 1280 and 390 px with no axe
violation); the daily check-in's button, and a staging subscription renewed by the test
clock with each paid period's receipt; each payment channel the operator enabled (Creem,
MyFatoorah and Epay, in staging and in live) is offered and no other, at 1280 and 390 px with
no axe violation, and staging pays it on the sandbox page titled for it, which passes axe too."""

import re

import httpx
from playwright.async_api import Page, expect

from gateway.admin.audit import Call
from gateway.admin.redemption_codes import create_codes
from gateway.admin.schemas import CodeBatchData, CodeBatchRequest
from gateway.billing.channels import registry as providers
from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures import channels, creem, epay, myfatoorah
from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.acme_pay import ACME, AcmePay
from tests.fixtures.billing import make_staging_plan
from tests.fixtures.browser import DESKTOP, PHONE, Merchant, shoot


async def test_buying_a_pack_and_redeeming_a_code_from_the_wallet_page(
    page: Page, signed_up: Merchant, db: Database, hook_settings: Settings
) -> None:
    await page.goto("/dashboard/wallet")
    assert (await page.locator("#balance").inner_text()).strip() == "$1,000.00"
    await shoot(page, "wallet")

    # Buy the Pro pack: the sandbox checkout stands in for Stripe's page in staging.
    await page.get_by_label("Pack").select_option("pack_pro")
    await page.get_by_role("button", name="Go to checkout").click()
    await page.wait_for_url("**/api/public/v1/billing/sandbox/checkout/ord_*")
    assert "Pro pack" in await page.locator("h1").inner_text()
    await page.get_by_role("button", name="Pay").click()
    await page.wait_for_url("**/dashboard/wallet?notice=paid")
    assert (await page.locator("#balance").inner_text()).strip() == "$1,025.00"
    history = page.locator("#history")
    assert "Pro pack" in await history.inner_text()
    assert "completed" in await history.inner_text()

    # Redeem a code an operator issued (the admin service, as the admin API calls it).
    call = Call("operator", "redemption_codes.create", "POST", "/test", None)
    batch = await create_codes(
        db,
        hook_settings,
        call,
        CodeBatchRequest(count=1, amount_cents=1_500, env="staging", name="Launch promo"),
    )
    issued = batch.one(CodeBatchData)
    await page.get_by_role("textbox", name="Code", exact=True).fill("RDM-NOT-A-CODE")
    await page.get_by_role("button", name="Redeem").click()
    assert "Unknown redemption code" in await page.locator("#redeem-error").inner_text()
    await page.get_by_role("textbox", name="Code", exact=True).fill(issued.codes[0])
    await page.get_by_role("button", name="Redeem").click()
    await page.wait_for_url("**/dashboard/wallet?notice=redeemed")
    assert (await page.locator("#balance").inner_text()).strip() == "$1,040.00"
    rows = await history.locator("tbody tr").all_inner_texts()
    assert len(rows) == 2
    assert "Redeemed code (Launch promo)" in rows[0] and "Pro pack" in rows[1]
    ledger = await page.locator("#ledger").inner_text()
    assert "redemption" in ledger and "checkout" in ledger
    await shoot(page, "wallet-history")
    # Each credit is a grant: the code's promotional, the pack's bought and staging's starting
    # balance, named so.
    grants = await page.locator("#grants tbody tr").all_inner_texts()
    assert len(grants) == 3, grants
    assert "promotional" in grants[0] and "$15.00 of $15.00" in grants[0] and "never" in grants[0]
    assert "bought" in grants[1] and "$25.00 of $25.00" in grants[1]
    assert "staging starting balance" in grants[2] and "$1,000.00 of $1,000.00" in grants[2]
    await assert_accessible(page, "wallet-grants", widths=(DESKTOP, PHONE))


async def test_checkout_without_payments_looks_and_is_disabled(
    page: Page, signed_up: Merchant
) -> None:
    await page.get_by_role("button", name="Live").click()
    await page.goto("/dashboard/wallet")
    buy = page.get_by_role("button", name="Go to checkout")
    assert await buy.is_disabled()
    assert "not configured" in await buy.evaluate(
        "b => document.getElementById(b.getAttribute('aria-describedby')).textContent"
    )

    style = "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.cursor]; }"
    enabled = await page.locator("form[action$='/redeem'] button.primary").evaluate(style)
    disabled = await buy.evaluate(style)
    assert disabled[1] == "not-allowed" and enabled[1] != "not-allowed"
    assert disabled[0] != enabled[0]  # not the enabled button's colour
    await shoot(page, "wallet-live-no-payments")


async def test_check_in_and_a_subscription_renewed_by_the_test_clock_with_its_receipts(
    page: Page, signed_up: Merchant, db: Database, hook_settings: Settings
) -> None:
    await make_staging_plan(
        db,
        hook_settings,
        name="Clockwork",
        price_monthly=900,
        price_yearly=9000,
        credits_included=1_200,
        features=["Renews by the test clock"],
    )
    await page.goto("/dashboard/wallet")
    assert await page.locator("#periods").count() == 0

    # The daily check-in: the button credits a reward, then the card says when the next opens.
    await page.get_by_role("button", name="Check in for today").click()
    await page.wait_for_url("**/dashboard/wallet?checkin=done")
    reward = (await page.locator("#checkin-reward").inner_text()).strip()
    assert re.fullmatch(r"\$0\.\d\d|\$1\.00", reward), reward
    assert await page.get_by_role("button", name="Check in for today").count() == 0
    assert await page.locator("#checkin-next").inner_text()
    ledger = await page.locator("#ledger").inner_text()
    assert "check-in credit" in ledger

    # Subscribe on the sandbox checkout: the first period is paid, with its receipt.
    await page.get_by_label("Plan", exact=True).select_option(label="Clockwork")
    await page.get_by_role("button", name="Subscribe").click()
    await page.wait_for_url("**/api/public/v1/subscription/sandbox/sub_*")
    await page.locator("#pay").click()
    await page.wait_for_url("**/dashboard/wallet?notice=subscribed")
    periods = page.locator("#periods-table tbody tr")
    assert await periods.count() == 1
    first = await periods.first.inner_text()
    assert "Clockwork" in first and "$12.00" in first and "STG-" in first

    # The test clock: a month and a bit later, the second period is paid and check-in reopens.
    before = await page.locator("#clock-now").inner_text()
    await page.get_by_label("Advance by days").fill("32")
    await page.get_by_role("button", name="Advance", exact=True).click()
    await page.wait_for_url("**/dashboard/wallet?clock=advanced")
    assert await page.locator("#clock-now").inner_text() != before
    assert await periods.count() == 2
    assert await page.get_by_role("button", name="Check in for today").count() == 1
    await shoot(page, "wallet-periods")

    # The newest period's receipt, on the page an order's has, with its PDF.
    number = (await periods.first.locator("code").inner_text()).strip()
    await periods.first.get_by_role("link", name=re.compile("^Receipt")).click()
    await page.wait_for_url("**/dashboard/wallet/subscription/invoices/*/receipt")
    assert number in await page.locator("h2").inner_text()
    assert "Clockwork plan, billed monthly" in await page.locator("#receipt").inner_text()
    pdf = await page.request.get(await page.locator("#receipt-pdf").get_attribute("href") or "")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    await shoot(page, "wallet-period-receipt")


# Each channel's account as the operator saves it for live: nothing is called until a live
# merchant pays, which this test does not do.
LIVE_CREDENTIALS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "creem": (
        {"api_key": creem.API_KEY, "webhook_secret": creem.WEBHOOK_SECRET},
        (creem.API_KEY, creem.WEBHOOK_SECRET),
    ),
    "myfatoorah": (
        {"token": myfatoorah.TOKEN, "webhook_secret": myfatoorah.WEBHOOK_SECRET},
        (myfatoorah.TOKEN, myfatoorah.WEBHOOK_SECRET),
    ),
    "epay": (
        {
            "pid": epay.EPAY_PID,
            "key": epay.EPAY_KEY,
            "api_root": "https://pay.example",
            "rate": "7.2",
        },
        (epay.EPAY_KEY,),
    ),
}


async def _pay_with(page: Page) -> list[str]:
    """The "Pay with" choices of the page, in order, each ``value: label``: the same at 1280
    and at 390 px, where each is shown whole within the screen."""
    seen = []
    for size in (DESKTOP, PHONE):
        await page.set_viewport_size(size)
        shown = []
        for label in await page.locator("#channels label").all():
            box = await label.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"]
            value = await label.get_by_role("radio").get_attribute("value")
            shown.append(f"{value}: {' '.join((await label.inner_text()).split())}")
        seen.append(shown)
    await page.set_viewport_size(DESKTOP)
    assert seen[0] == seen[1], seen
    return seen[0]


async def test_the_wallet_offers_each_enabled_channel_and_staging_pays_it_in_the_sandbox(
    page: Page,
    signed_up: Merchant,
    admin_client: httpx.AsyncClient,
    db: Database,
    hook_settings: Settings,
) -> None:
    # A plan on sale too, so the page axe checks has every card a merchant may see.
    await make_staging_plan(
        db,
        hook_settings,
        name="Every channel",
        price_monthly=1_500,
        price_yearly=15_000,
        credits_included=2_000,
        features=["Paid through any channel the operator enabled"],
    )
    # The operator, through the admin API: Creem, MyFatoorah and Epay offered in staging and
    # in live (with each account's credentials), Acme Pay (a registry line and nothing else)
    # in staging only, and Stripe taken out of staging. Every row goes after the test
    # (``channels_put_back``).
    with providers.registered(AcmePay()):
        for channel, (credentials, secrets) in LIVE_CREDENTIALS.items():
            await channels.enable(admin_client, channel, env="staging")
            await channels.enable(admin_client, channel, credentials, secrets=secrets)
        await channels.enable(admin_client, ACME, env="staging")
        off = await admin_client.put("/billing/channels/stripe/staging", json={"enabled": False})
        assert off.status_code == 200, off.text

        # Staging pays every channel through the sandbox, and says so.
        await page.goto("/dashboard/wallet")
        assert await _pay_with(page) == [
            "sandbox: Sandbox",
            "epay: Epay (sandbox)",
            "myfatoorah: MyFatoorah (sandbox)",
            "creem: Creem (sandbox)",
            "acme_pay: Acme Pay (sandbox)",
        ]
        await assert_accessible(page, "wallet-channels", widths=(DESKTOP, PHONE))

        # Paid through Epay on the sandbox page titled for it, which shows Epay's methods.
        await page.get_by_label("Pack").select_option("pack_starter")
        await page.get_by_role("radio", name="Epay").check()
        await page.get_by_role("button", name="Go to checkout").click()
        await page.wait_for_url("**/api/public/v1/billing/sandbox/checkout/ord_*")
        assert "Epay" in await page.locator("h1").inner_text()
        assert "Epay" in await page.locator("#sandbox-note").inner_text()
        assert await page.locator("#methods").inner_text() == "Alipay · WeChat Pay"
        await assert_accessible(page, "sandbox-epay", widths=(DESKTOP, PHONE))
        await page.get_by_role("button", name="Pay").click()
        await page.wait_for_url("**/dashboard/wallet?notice=paid")
        assert (await page.locator("#balance").inner_text()).strip() == "$1,005.00"
        assert "completed" in await page.locator("#history").inner_text()

        # Live offers the channels with credentials the operator enabled there, by their names.
        await page.get_by_role("button", name="Live").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Wallet · Live")
        await page.goto("/dashboard/wallet")
        assert await _pay_with(page) == [
            "epay: Epay",
            "myfatoorah: MyFatoorah",
            "creem: Creem",
        ]
        await assert_accessible(page, "wallet-channels-live", widths=(DESKTOP, PHONE))
