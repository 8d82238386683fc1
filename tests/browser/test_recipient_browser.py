"""The voucher e-mail, caught by a real SMTP server, opens the recipient's page in the browser,
which then shows the balance a later send moves without reloading; the later send itself is on
its own mail's link, not on the earlier one. An OpenRouter key's page shows what the key used and
has left, its reset and expiry, read whole at 1280 and 390 px, axe finding nothing serious."""

import re

from playwright.async_api import Page, expect
from pydantic import SecretStr

from tests.fixtures.accessibility import axe_findings
from tests.fixtures.browser import DESKTOP, PHONE
from tests.fixtures.core import local_client, wait_until
from tests.fixtures.mail import Inbox, text_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import OPENROUTER_MANAGEMENT_KEY, OpenRouterStandIn
from tests.fixtures.workers import StartWorker

LINK = re.compile(r"https?://\S+?(/dashboard/recipient/\S+)")
SEND = {"platform": "gemini", "amount_cents": 900, "recipient_email": "eve@example.com"}


async def test_the_emails_link_opens_a_live_page(
    page: Page,
    gateway_url: str,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
) -> None:
    await start_worker(smtp_url=SecretStr(smtp_server.url), mail_retry_schedule="0,0.2")
    merchant = await make_merchant("live", balance_cents=10_000)
    api = f"{gateway_url}/api/public/v1"
    async with local_client() as http:
        first = await http.post(f"{api}/topup/send", json=SEND, headers=merchant.headers)
        assert first.status_code == 200, first.text

        async def mailed() -> bool:
            return len(smtp_server.received) == 1

        await wait_until(mailed)
        found = LINK.search(text_of(smtp_server.received[0]))
        assert found is not None
        await page.goto(found.group(1))
        received = page.locator("#received li")
        await expect(received).to_have_count(1)
        await expect(page.get_by_text(first.json()["data"]["voucher_code"])).to_be_visible()
        await expect(page.locator("#balances")).to_contain_text("$9.00")

        second = await http.post(
            f"{api}/topup/send", json={**SEND, "amount_cents": 1100}, headers=merchant.headers
        )
        assert second.status_code == 200
    # No reload: the page's stream brings the balance; the send after the link is not on it.
    await expect(page.locator("#balances")).to_contain_text("$20.00")
    await expect(received).to_have_count(1)
    await expect(page.get_by_text(second.json()["data"]["voucher_code"])).to_have_count(0)

    async def mailed_twice() -> bool:
        return len(smtp_server.received) == 2

    await wait_until(mailed_twice)
    later = LINK.search(text_of(smtp_server.received[1]))
    assert later is not None
    await page.goto(later.group(1))
    await expect(received).to_have_count(2)
    await expect(page.get_by_text(second.json()["data"]["voucher_code"])).to_be_visible()


async def test_an_openrouter_keys_figures_read_at_both_widths(
    page: Page,
    gateway_url: str,
    make_merchant: MakeMerchant,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, root = openrouter_standin
    merchant = await make_merchant("staging", balance_cents=10_000)
    api = f"{gateway_url}/api/public/v1"
    setting = {
        "provider": "openrouter",
        "management_key": OPENROUTER_MANAGEMENT_KEY,
        "base_url": root,
        "limit_reset": "weekly",
        "key_expires_after_days": 365,
    }
    async with local_client() as http:
        saved = await http.put(f"{api}/fulfilment/gemini", json=setting, headers=merchant.headers)
        assert saved.status_code == 200, saved.text
        sent = await http.post(f"{api}/topup/send", json=SEND, headers=merchant.headers)
        assert sent.json()["code"] == 1001, sent.text
        mails = (await http.get(f"{api}/emails", headers=merchant.headers)).json()["data"]
    [key] = openrouter.keys.values()
    openrouter.record_usage(key["hash"], 2.5)
    link = next(m for m in mails if m["kind"] == "voucher")["link"]
    await page.goto(link.split(gateway_url, 1)[1])
    figures = page.locator("#keys [data-allowance=shown]")
    await expect(figures).to_contain_text("Used $2.50 of $9.00 this week; $6.50 left.")
    await expect(figures).to_contain_text("Resets weekly, on Mondays at midnight UTC.")
    await expect(figures).to_contain_text(f"Expires on {key['expires_at'][:10]}")
    for size in (DESKTOP, PHONE):
        await page.set_viewport_size(size)
        await expect(figures).to_be_visible()
        results = await axe_findings(page)
        found = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results["violations"]
            if v.get("impact") in {"serious", "critical"}
        ]
        assert not found, f"at {size['width']} px: {found}"
        width = await page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= size["width"], f"{width} px wide at {size['width']} px"
