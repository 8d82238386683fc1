"""The wallet page in a real browser, against a live gateway: a pack bought through the staging
sandbox checkout and a code redeemed on the page both land in the balance, the funding history
and the ledger; each enabled payment channel is offered, at 1280 and 390 px, and staging pays it
on the sandbox page titled for it."""

from playwright.async_api import Page

from gateway.admin.audit import Call
from gateway.admin.channels import set_channel
from gateway.admin.redemption_codes import create_codes
from gateway.admin.schemas import CodeBatchData, CodeBatchRequest
from gateway.billing import providers
from gateway.billing.channel_schemas import ChannelSet
from gateway.store.db import Database
from gateway.values.settings import Settings
from tests.fixtures.acme_pay import ACME, AcmePay
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


async def test_the_wallet_offers_each_enabled_channel_and_staging_pays_it_in_the_sandbox(
    page: Page, signed_up: Merchant, db: Database, hook_settings: Settings
) -> None:
    call = Call("operator", "channels.set", "PUT", "/test", None)
    with providers.registered(AcmePay()):
        await set_channel(db, hook_settings, call, ACME, "staging", ChannelSet(enabled=True))
        try:
            await page.goto("/dashboard/wallet")
            channels = page.locator("#channels")
            assert "Acme Pay" in await channels.inner_text()
            await page.set_viewport_size(PHONE)
            assert await channels.is_visible()
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert wide <= PHONE["width"]
            await shoot(page, "wallet-channels")
            await page.set_viewport_size(DESKTOP)

            await page.get_by_label("Pack").select_option("pack_starter")
            await page.get_by_role("radio", name="Acme Pay").check()
            await page.get_by_role("button", name="Go to checkout").click()
            await page.wait_for_url("**/api/public/v1/billing/sandbox/checkout/ord_*")
            assert "Acme Pay" in await page.locator("h1").inner_text()
            assert "Acme Pay" in await page.locator("#sandbox-note").inner_text()
            assert "Acme wallet" in await page.locator("#methods").inner_text()
            await shoot(page, "sandbox-acme")
            await page.get_by_role("button", name="Pay").click()
            await page.wait_for_url("**/dashboard/wallet?notice=paid")
            assert "completed" in await page.locator("#history").inner_text()
        finally:
            await set_channel(db, hook_settings, call, ACME, "staging", ChannelSet(enabled=False))
