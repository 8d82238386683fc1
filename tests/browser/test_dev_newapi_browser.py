"""The recipient's journey against ``aitopup dev newapi`` alone, in Chromium: a staging send
through the stand-in, the recipient's page (from the staging mailbox's link) whose button opens
the stand-in's console page, an account made and signed in there, the code redeemed with the
page's own Redeem button, and the recipient's page then showing it spent and the balance down to
nothing (within the few seconds an unused code's answer is kept). The console page passes axe
at 1280 and 390 px."""

from playwright.async_api import Page, expect

from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import DESKTOP, PHONE
from tests.fixtures.core import local_client, wait_until
from tests.fixtures.first_run import redeem_on_console
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import dev_standin
from tests.fixtures.workers import StartWorker


async def test_a_recipient_redeems_on_the_dev_standins_console_and_sees_it_spent(
    page: Page, gateway_url: str, make_merchant: MakeMerchant, start_worker: StartWorker
) -> None:
    await start_worker()
    merchant = await make_merchant("staging", balance_cents=10_000)
    api = f"{gateway_url}/api/public/v1"
    async with dev_standin("newapi", 7) as served, local_client() as http:
        root = served.value("New API address")
        body = {
            "provider": "newapi",
            "base_url": root,
            "access_token": served.value("Admin access token"),
            "user_id": int(served.value("Admin user id")),
        }
        saved = await http.put(f"{api}/fulfilment/claude", json=body, headers=merchant.headers)
        assert saved.status_code == 200, saved.text
        send = {"platform": "claude", "amount_cents": 700, "recipient_email": "joy@example.com"}
        sent = await http.post(f"{api}/topup/send", json=send, headers=merchant.headers)
        assert sent.json()["code"] == 1001, sent.text
        links: list[str] = []

        async def mailed() -> bool:
            mails = (await http.get(f"{api}/emails", headers=merchant.headers)).json()["data"]
            links[:] = [m["link"] for m in mails if m["kind"] == "voucher" and m.get("link")]
            return bool(links)

        await wait_until(mailed)
        recipient = gateway_url + "/dashboard" + links[0].split("/dashboard", 1)[1]
        await page.goto(recipient)
        item = page.locator("#received li")
        await expect(item.locator("[data-redeemed]")).to_have_attribute("data-redeemed", "unused")
        await expect(page.locator("#balances")).to_contain_text("$7.00")
        code = (await item.locator("code").first.inner_text()).strip()

        await item.get_by_role("link", name="Redeem at 127.0.0.1").click()
        await page.wait_for_url(root + "/console/topup")
        await assert_accessible(page, "dev-newapi-console", widths=[DESKTOP, PHONE])
        await redeem_on_console(page, "joy", "joy-secret-1", code, 700)

        # Back on their page: the unused answer is kept a few seconds, then New API is asked.
        async def spent() -> bool:
            await page.goto(recipient)
            shown = await item.locator("[data-redeemed]").get_attribute("data-redeemed")
            return shown == "spent"

        await wait_until(spent, within=20, interval=1)
        await expect(page.locator("#balances")).to_contain_text("$0.00")
        await expect(item).to_contain_text("Code redeemed")
