"""A New API recipient's whole journey in Chromium: a send through the New API stand-in, its
e-mail caught by a real SMTP server, whose "Redeem at" button opens the redemption address the
merchant set (the stand-in's Wallet page), the code redeemed there with New API's own call, and
the recipient's page then showing it spent. And the HTML e-mail at a 390 px screen: a New API
code (32 characters) wraps rather than widening the mail."""

import re

import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr

from gateway.mail.render import render
from gateway.upstreams import config
from gateway.upstreams.outbound import Upstreams
from tests.fixtures.browser import PHONE
from tests.fixtures.core import local_client, wait_until
from tests.fixtures.mail import Inbox, html_of, text_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import NewApiStandIn, newapi_body
from tests.fixtures.workers import StartWorker

LINK = re.compile(r"https?://\S+?(/dashboard/recipient/\S+)")
REDEEM = re.compile(r'<a href="([^"]+)" data-redeem')
CODE = "0123456789abcdef0123456789abcdef"  # New API's codes are 32 characters


async def _scroll_width(page: Page, html: str) -> int:
    await page.set_viewport_size(PHONE)
    await page.set_content(html)
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    return width


@pytest.mark.parametrize("provider", ["newapi", "voucher"])
async def test_the_html_mail_fits_a_390px_screen(page: Page, provider: str) -> None:
    values = {
        "sender": "merchant-94c8a62dbd444e7394ed5766592ef16c",  # a name with no break
        "amount": "$12.34",
        "platform": "Claude",
        "provider": provider,
        "code": CODE if provider == "newapi" else "ATU-TEST-7Q3X-K8PM-2HVD-7Q3X-K8PM",
        "link": "https://gateway.example.com/dashboard/recipient/" + "t" * 120,
        "expires": "2026-12-01 12:00 UTC",
        "redeem_url": "https://newapi.example.com/console/topup",
        "redeem_host": "newapi.example.com",
        "instructions": "Sign in with the address this e-mail came to, then open Wallet.",
        "api_root": None,
    }
    html = render("voucher", values).html
    assert await _scroll_width(page, html) <= PHONE["width"]


@pytest.fixture
def live_reaches_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Live mail is the mail that reaches SMTP, and live never reaches this machine: here its
    upstream calls take staging's client (loopback allowed), and its URLs are not judged."""

    async def accepted(settings: object, env: str, url: str) -> str:
        return url

    monkeypatch.setattr(config, "_check_url", accepted)
    monkeypatch.setattr(config, "_check_redeem_url", lambda settings, env, url: url)
    monkeypatch.setattr(Upstreams, "for_env", lambda self, env: self.staging)


async def test_a_newapi_recipient_redeems_where_the_merchant_said_and_sees_it_spent(
    page: Page,
    gateway_url: str,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    newapi_standin: tuple[NewApiStandIn, str],
    live_reaches_loopback: None,
) -> None:
    newapi, root = newapi_standin
    site = root + "/console/topup"
    await start_worker(smtp_url=SecretStr(smtp_server.url), mail_retry_schedule="0,0.2")
    merchant = await make_merchant("live", balance_cents=10_000)
    api = f"{gateway_url}/api/public/v1"
    async with local_client() as http:
        body = {**newapi_body(root), "redeem_url": site, "redeem_instructions": "Sign in first."}
        saved = await http.put(f"{api}/fulfilment/claude", json=body, headers=merchant.headers)
        assert saved.status_code == 200, saved.text
        send = {"platform": "claude", "amount_cents": 1500, "recipient_email": "ivy@example.com"}
        sent = await http.post(f"{api}/topup/send", json=send, headers=merchant.headers)
        assert sent.json()["code"] == 1001, sent.text

        async def mailed() -> bool:
            return len(smtp_server.received) == 1

        await wait_until(mailed)
    [made] = newapi.redemptions
    message = smtp_server.received[0]
    html = html_of(message)
    assert made["key"] in html and "Sign in first." in html
    assert await _scroll_width(page, html) <= PHONE["width"]

    # The e-mail's button opens the address the merchant set.
    await page.get_by_role("link", name="Redeem at 127.0.0.1").click()
    await page.wait_for_url(site)
    await expect(page.get_by_role("heading", name="Wallet")).to_be_visible()

    # Redeemed there, as New API's Wallet page does it: the user's POST /api/user/topup {key}.
    user, token = newapi.add_user()
    async with local_client() as http:
        redeemed = await http.post(
            f"{root}/api/user/topup",
            json={"key": made["key"]},
            headers={"Authorization": token, "New-Api-User": str(user)},
        )
    assert redeemed.json() == {"success": True, "message": "", "data": made["quota"]}
    assert newapi.users[user]["quota"] == made["quota"]

    found = LINK.search(text_of(message))
    assert found is not None
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.goto(f"{gateway_url}{found.group(1)}")
    item = page.locator("#received li")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("$15.00 of Claude credit sent to you")
    await expect(item.locator("[data-redeemed]")).to_have_attribute("data-redeemed", "spent")
    await expect(item).to_contain_text("Code redeemed")
