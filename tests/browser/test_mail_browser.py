"""A staging mail read whole on the dashboard's Mail page, in English, Chinese and Japanese, at
1280 and 390 px: its text version shown in full on its page, its last sentence brought into
view by scrolling as a reader scrolls, and its HTML version opened by "Open the HTML" in a tab
of its own, its last sentence there too. No frame cuts it short; axe finds nothing on the page
(at both widths in English, at 1280 px in the others: ``widths_for`` says why).
A held send's approval mail there carries its link to the owner, who approves by clicking it."""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from gateway.accounts import users
from gateway.store.engine import Database
from gateway.store.models import Topup, table_of
from gateway.values import languages
from tests.fixtures.accessibility import assert_accessible, widths_for
from tests.fixtures.browser import ACTION_MS, DESKTOP, PASSWORD, PHONE, OwnerOf, watch
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import set_policy

_T = table_of(Topup)
LOCALES = {"en": "en-US", "zh": "zh-CN", "ja": "ja-JP"}
# The end of a sentence, in each of the languages (a full stop, an ideographic one, or either
# closing a parenthesis, the fullwidth one of Chinese and Japanese too).
_ENDS = re.compile("[.\u3002][)\uff09]?\\s*$")

# The last line of an element's text, scrolled to the middle of the screen as a reader scrolls
# to it: where it lies then, and whether it is what the screen shows there (nothing clips it).
_LAST_LINE = """el => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let last = null;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) if (n.textContent.trim()) last = n;
  const text = last.textContent, end = text.trimEnd().length;
  const range = document.createRange();
  range.setStart(last, text.lastIndexOf("\\n", end - 1) + 1);
  range.setEnd(last, end);
  window.scrollBy(0, range.getBoundingClientRect().top - window.innerHeight / 2);
  const box = range.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + 1, box.top + box.height / 2);
  return {sentence: range.toString(), top: box.top, bottom: box.bottom, left: box.left,
          right: box.right, width: window.innerWidth, height: window.innerHeight,
          shown: el.contains(hit)};
}"""


@pytest.fixture(params=list(LOCALES))
def language(request: pytest.FixtureRequest) -> str:
    found: str = request.param
    return found


@pytest.fixture
async def in_language(
    browser: Browser, gateway_url: str, language: str
) -> AsyncIterator[tuple[BrowserContext, list[list[str]]]]:
    """A browser set to ``language``; what goes wrong on any of its tabs, as ``watch`` sees it."""
    context = await browser.new_context(
        viewport=DESKTOP, base_url=gateway_url, locale=LOCALES[language]
    )
    context.set_default_timeout(ACTION_MS)
    watched: list[list[str]] = []
    context.on("page", lambda opened: watched.append(watch(opened)))
    yield context, watched
    await context.close()


async def _owners_key(
    page: Page, owner: OwnerOf, db: Database, make_merchant: MakeMerchant
) -> MerchantKey:
    """A new owner signed in on ``page`` (signed up in the test's language), and a staging key
    of their merchant."""
    signed_up = await owner(page)
    user = await users.check_password(db, signed_up.email, PASSWORD)
    assert user is not None
    return await make_merchant("staging", merchant_id=user.merchant_id)


KAI = "kai@example.com"


async def _send(gateway_url: str, key: MerchantKey, amount_cents: int) -> httpx.Response:
    """A send of ``amount_cents`` to kai@example.com with ``key``, as its agent posts it."""
    body = {
        "platform": "claude",
        "amount_cents": amount_cents,
        "recipient_email": "kai@example.com",
    }
    async with local_client(base_url=f"{gateway_url}/api/public/v1", headers=key.headers) as api:
        return await api.post("/topup/send", json=body)


async def _first_mail(page: Page) -> None:
    """The staging mailbox's newest mail, opened."""
    await page.goto("/dashboard/mail")
    await page.locator("[data-mail] a").first.click()


def _read_whole(found: dict[str, Any]) -> None:
    assert found["shown"], found
    assert found["top"] >= 0 and found["bottom"] <= found["height"], found
    assert found["left"] >= 0 and found["right"] <= found["width"], found


async def test_a_mail_is_read_to_its_last_sentence_on_its_page_and_in_its_tab(
    in_language: tuple[BrowserContext, list[list[str]]],
    language: str,
    gateway_url: str,
    db: Database,
    make_merchant: MakeMerchant,
    owner: OwnerOf,
) -> None:
    context, watched = in_language
    page = await context.new_page()
    key = await _owners_key(page, owner, db, make_merchant)
    sent = await _send(gateway_url, key, 700)
    assert sent.status_code == 200, sent.text
    await _first_mail(page)
    await expect(page.locator("html")).to_have_attribute("lang", languages.html_lang(language))
    await expect(page.locator("iframe")).to_have_count(0)

    for size in (DESKTOP, PHONE):
        await page.set_viewport_size(size)
        # The text version, whole on the page: its last sentence on screen once scrolled to.
        found = await page.locator("#mail-text").evaluate(_LAST_LINE)
        assert _ENDS.search(found["sentence"]), found
        _read_whole(found)
        # The HTML version, in a tab of its own as long as the mail: its last sentence too.
        async with context.expect_page() as opened:
            await page.locator("#mail-html").click()
        tab = await opened.value
        await tab.set_viewport_size(size)
        await expect(tab.locator("body")).to_contain_text(re.compile(r"7\.00"))
        last = tab.locator("body > :last-child")
        assert _ENDS.search(await last.inner_text())
        await last.scroll_into_view_if_needed()
        await expect(last).to_be_in_viewport(ratio=1)
        await tab.close()
    await page.set_viewport_size(DESKTOP)
    await assert_accessible(page, f"mail-{language}", widths=widths_for(language))
    assert not [error for errors in watched for error in errors], watched


async def test_the_owner_approves_a_held_send_by_the_link_in_the_staging_mailbox(
    in_language: tuple[BrowserContext, list[list[str]]],
    language: str,
    gateway_url: str,
    db: Database,
    make_merchant: MakeMerchant,
    owner: OwnerOf,
) -> None:
    context, watched = in_language
    page = await context.new_page()
    key = await _owners_key(page, owner, db, make_merchant)
    await set_policy(db, key.key_id, {"scopes": ["topup:send"], "approval_above_cents": 500})
    sent = await _send(gateway_url, key, 900)
    assert sent.status_code == 202, sent.text
    await _first_mail(page)
    await expect(page.locator("#mail-text")).to_contain_text("/dashboard/approval?token=apl_")
    for size in (DESKTOP, PHONE):  # clicked at the phone's width
        await page.set_viewport_size(size)
        await expect(page.locator("#mail-link")).to_be_in_viewport()
    await page.locator("#mail-link").click()
    await page.wait_for_url("**/dashboard/approval?token=apl_*")
    await expect(page.locator("#amount")).to_contain_text("9.00")
    await page.locator("button[name=decision][value=approve]").click()
    await expect(page.locator("#decided")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", languages.html_lang(language))
    async with db.read() as conn:
        found = select(_T.c.status).where(_T.c.id == sent.json()["transaction_id"])
        assert (await conn.execute(found)).scalar_one() == "delivered"
    assert not [error for errors in watched for error in errors], watched
