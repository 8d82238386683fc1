"""The voucher e-mail, caught by a real SMTP server, opens the recipient's page in the browser,
which then shows the balance a later send moves without reloading; the later send itself is on
its own mail's link, not on the earlier one."""

import re

from playwright.async_api import Page, expect
from pydantic import SecretStr

from tests.fixtures.core import local_client, wait_until
from tests.fixtures.mail import Inbox, text_of
from tests.fixtures.merchants import MakeMerchant
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
