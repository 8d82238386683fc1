"""The budget pages in a real browser against a live gateway: a budget made on the page, with a
daily and a rolling window, a key drawing on it over the API whose sends show in the budget's
spend (the rolling one with when its oldest spend frees) and in who draws on it, then frozen from
its page so the next send is refused, the list showing its alert levels; every page without an
axe violation at 1280 and 390 px, and no sideways scroll on a phone."""

from playwright.async_api import Page, expect

from gateway.accounts import users
from gateway.store.engine import Database
from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE, Merchant
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant

WIDTHS = (DESKTOP, PHONE)


async def test_a_budget_made_on_its_page_holds_a_key_and_freezes(
    page: Page, signed_up: Merchant, gateway_url: str, db: Database, make_merchant: MakeMerchant
) -> None:
    await page.goto("/dashboard/keys")
    await page.get_by_role("link", name="Budgets shared by several keys and apps →").click()
    await expect(page.get_by_role("heading", name="Budgets · Staging")).to_be_visible()
    await assert_accessible(page, "budgets-empty", widths=WIDTHS)

    await page.get_by_label("Name").fill("Agents")
    await page.get_by_label("Daily").fill("5.00")
    await page.get_by_label("Alert levels").fill("80, 50")
    await page.get_by_label("Rolling", exact=True).fill("4.00")
    await page.get_by_label("Rolling window, hours").fill("5")
    await page.get_by_role("button", name="Make budget").click()
    await expect(page.get_by_role("heading", name="Budget Agents · Staging")).to_be_visible()
    # Reached from Keys, and under Keys in the navigation (not the overview, which it is not).
    await expect(page.locator('nav.nav a[aria-current="page"]')).to_have_text("Keys")
    budget_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("#levels")).to_have_text("50%, 80%")

    user = await users.check_password(db, signed_up.email, signed_up.password)
    assert user is not None
    owner = await make_merchant("staging", merchant_id=user.merchant_id)
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        made = await api.post(
            "/keys",
            json={"name": "agent-1", "policy": {"budgets": [budget_id]}},
            headers=owner.headers,
        )
        assert made.status_code == 201, made.text
        agent = {"Authorization": f"Bearer {made.json()['data']['key']}"}
        body = {"platform": "claude", "amount_cents": 300, "recipient_email": "a@example.com"}
        assert (await api.post("/topup/send", json=body, headers=agent)).json()["code"] == 1001

        await page.reload()
        await expect(page.locator('tr[data-window="daily"]')).to_contain_text("$3.00")
        rolling = page.locator('tr[data-window="rolling"]')
        await expect(rolling).to_contain_text("over the last 5 h")
        await expect(rolling).to_contain_text("$1.00")  # remaining of $4.00
        await expect(rolling).to_contain_text("oldest spend frees")
        await expect(page.locator("#drawn-by")).to_contain_text("agent-1")
        await assert_accessible(page, "budget", widths=WIDTHS)

        await page.get_by_role("button", name="Freeze budget").click()
        await expect(page.locator("#state")).to_contain_text("frozen")
        refused = await api.post("/topup/send", json=body, headers=agent)
        assert refused.json()["code"] == 2351

    await page.goto("/dashboard/budgets")
    row = page.locator(f'tr[data-budget="{budget_id}"]')
    await expect(row).to_contain_text("frozen")
    # Its alert levels in the list, as on its own page.
    await expect(row.locator("[data-levels]")).to_have_text("50%, 80%")
    await assert_accessible(page, "budgets", widths=WIDTHS)
    await page.get_by_label("Name").fill("Bad")
    await page.get_by_label("Weekly").fill("lots")
    await page.get_by_role("button", name="Make budget").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await assert_accessible(page, "budgets-refused", widths=WIDTHS)
