"""The translated pages in English, Chinese and Japanese, as a browser set to each language asks for
them: the page is in it (``<html lang>``, its own words), axe finds no violation (at 1280 and
390 px in English, at 1280 px in Chinese and Japanese: ``widths_for`` says why), and nothing
scrolls sideways on a phone in any of them (``assert_accessible``)."""

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from gateway.accounts import users
from gateway.store.engine import Database
from gateway.store.models import MerchantUser, table_of
from gateway.values import languages
from tests.fixtures.accessibility import assert_accessible, widths_for
from tests.fixtures.browser import ACTION_MS, DESKTOP, PASSWORD, OwnerOf
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy

# The browser's languages (Chromium's locale sets Accept-Language), and a word each page shows.
LOCALES = {"en": "en-US", "zh": "zh-CN", "ja": "ja-JP"}
SIGN_IN = {"en": "Sign in", "zh": "登录", "ja": "サインイン"}
CREDIT = {"en": "Top-ups sent to you", "zh": "发送给你的充值", "ja": "あなたへのチャージ"}


@pytest.fixture(params=languages.LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    found: str = request.param
    return found


@pytest.fixture
async def in_language(
    browser: Browser, gateway_url: str, language: str
) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(
        viewport=DESKTOP, base_url=gateway_url, locale=LOCALES[language]
    )
    context.set_default_timeout(ACTION_MS)
    yield context
    await context.close()


async def _opened(context: BrowserContext) -> tuple[Page, list[str]]:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None
        ),
    )
    return page, errors


async def _checked(page: Page, language: str, name: str) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", languages.html_lang(language))
    await expect(page.locator("h1")).to_be_visible()
    await assert_accessible(page, f"{name}-{language}", widths=widths_for(language))


async def test_signed_out_and_signed_in_pages_in_each_language(
    in_language: BrowserContext, language: str
) -> None:
    page, errors = await _opened(in_language)
    for name, path in [
        ("sign-in", "/dashboard/sign-in"),
        ("forgot-password", "/dashboard/forgot-password"),
        ("set-password-expired", "/dashboard/set-password?token=nothing"),
        ("sign-up", "/dashboard/sign-up"),
    ]:
        await page.goto(path)
        await _checked(page, language, name)
    tag = uuid.uuid4().hex[:10]
    email = f"owner-{tag}@example.com"
    await page.locator("#merchant_name").fill(f"Shop {tag}")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("button.primary").click()
    await page.wait_for_url("**/dashboard/sign-in?signed-up")
    await expect(page.get_by_role("heading", name=SIGN_IN[language])).to_be_visible()
    await _checked(page, language, "sign-in-signed-up")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("button.primary").click()
    await page.wait_for_url("**/dashboard/")
    for name, path in [
        ("overview", "/dashboard/"),
        ("account", "/dashboard/account"),
        ("settings", "/dashboard/settings"),
        ("webhooks", "/dashboard/webhooks"),
        ("developers", "/dashboard/developers"),
        ("members", "/dashboard/members"),
        ("topups", "/dashboard/topups"),
        ("recipients", "/dashboard/recipients"),
        ("fulfilment", "/dashboard/fulfilment"),
    ]:
        await page.goto(path)
        await _checked(page, language, name)
    assert not errors, errors


async def test_the_switcher_sets_the_dashboards_language_whatever_the_browser(
    in_language: BrowserContext, language: str
) -> None:
    page, errors = await _opened(in_language)
    tag = uuid.uuid4().hex[:10]
    email = f"owner-{tag}@example.com"
    await page.goto("/dashboard/sign-up")
    await page.locator("#merchant_name").fill(f"Shop {tag}")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("button.primary").click()
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("button.primary").click()
    await page.wait_for_url("**/dashboard/")
    await page.goto("/dashboard/account")
    other = "ja" if language != "ja" else "zh"
    await page.locator("#language").select_option(other)
    await page.locator("#language-form button").click()
    await page.wait_for_url("**/dashboard/account?notice=language")
    await expect(page.locator("html")).to_have_attribute("lang", languages.html_lang(other))
    await expect(page.get_by_role("status")).to_be_visible()
    assert not errors, errors


async def test_the_recipients_page_in_each_language(
    in_language: BrowserContext, language: str, gateway_url: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    send = {"platform": "claude", "amount_cents": 1500, "recipient_email": "dee@example.com"}
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        sent = await api.post("/topup/send", json=send, headers=merchant.headers)
        assert sent.status_code == 200, sent.text
        mails = (await api.get("/emails", headers=merchant.headers)).json()["data"]
    link = next(m for m in mails if m["kind"] == "voucher")["link"]
    path = "/dashboard" + link.split("/dashboard", 1)[1]
    page, errors = await _opened(in_language)
    await page.goto(path)
    await expect(page.get_by_role("heading", name=CREDIT[language])).to_be_visible()
    await expect(page.locator("#balances")).to_contain_text(languages.money_in(1500, language))
    await _checked(page, language, "recipient")
    await page.goto(path + "x")
    await _checked(page, language, "recipient-invalid")
    assert not errors, errors


@pytest.mark.parametrize("language", ["zh", "ja"])
async def test_the_money_pages_in_chinese_and_japanese(
    in_language: BrowserContext, language: str, owner: OwnerOf
) -> None:
    """The wallet, keys (a key made through the policy form, and its page), sending, the
    approvals inbox, Telegram linking, budgets, the kill switch, policy templates, the staging
    mailbox, the delivery log and apps."""
    page, errors = await _opened(in_language)
    await owner(page)
    await page.goto("/dashboard/keys")
    await _checked(page, language, "keys")
    await page.locator("#f-name").fill("agent")
    await page.locator("#f-approval_above").fill("5")
    await page.locator('form[action$="/keys"] button.primary').click()
    await expect(page.locator("#new-key")).to_be_visible()
    await _checked(page, language, "key-made")
    await page.goto("/dashboard/keys")
    await page.locator("#keys a").first.click()
    await page.wait_for_url("**/dashboard/keys/key_*")
    await _checked(page, language, "key")
    for name, path in [
        ("wallet", "/dashboard/wallet"),
        ("send", "/dashboard/topups/send"),
        ("approvals", "/dashboard/topups/approvals"),
        ("telegram", "/dashboard/telegram"),
        ("budgets", "/dashboard/budgets"),
        ("freeze", "/dashboard/freeze"),
        ("templates", "/dashboard/keys/templates"),
        ("mail", "/dashboard/mail"),
        ("deliveries", "/dashboard/webhooks/deliveries"),
        ("apps", "/dashboard/apps"),
        ("connected-apps", "/dashboard/apps/connected"),
        ("go-live", "/dashboard/go-live"),
        ("oauth-code", "/dashboard/oauth/code"),
    ]:
        await page.goto(path)
        await _checked(page, language, name)
    # An app registered here (its secret shown once), then its consent page.
    await page.goto("/dashboard/apps")
    await page.locator("#f-name").fill("Ledger Lens")
    await page.locator("#f-redirect_uris").fill("http://127.0.0.1:9/callback")
    await page.locator('input[name="scopes"][value="topup:send"]').check()
    await page.locator('input[name="scopes"][value="billing"]').check()
    await page.locator('form[action$="/apps"] button.primary').click()
    client_id = (await page.locator("#client-id").inner_text()).strip()
    await _checked(page, language, "app-registered")
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636's example
    await page.goto(
        f"/oauth/authorize?response_type=code&client_id={client_id}"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=s"
        f"&code_challenge={challenge}&code_challenge_method=S256&scope=topup%3Asend+billing"
    )
    await expect(page.locator("#consent-charges")).to_be_visible()
    await _checked(page, language, "consent")
    # A pack bought on the sandbox checkout, then its receipt's page.
    await page.goto("/dashboard/wallet")
    await page.locator("#pack_id").select_option("pack_pro")
    await page.locator("#buy").click()
    await page.wait_for_url("**/api/public/v1/billing/sandbox/checkout/ord_*")
    # The sandbox's page, in the language the dashboard was read in (the browser's).
    await expect(page.locator("#total")).to_have_text(languages.money_in(2000, language))
    await _checked(page, language, "sandbox-checkout")
    await page.locator("#pay").click()
    await page.wait_for_url("**/dashboard/wallet?notice=paid")
    await page.goto("/dashboard/fulfilment?tested=claude&result=ok&provider=newapi&ms=12")
    await expect(page.locator("#platform-claude [data-test-result]")).to_be_visible()
    await _checked(page, language, "fulfilment-tested")
    await page.goto("/dashboard/wallet")
    await page.locator('#history a[href*="/receipt"]').first.click()
    await page.wait_for_url("**/dashboard/wallet/orders/*/receipt")
    await expect(page.locator("#paid")).to_have_text(languages.money_in(2000, language))
    await _checked(page, language, "receipt")
    # The error page: its heading and sentence in the reader's words.
    await page.goto("/dashboard/no-such-page")
    await _checked(page, language, "not-found")
    assert not errors, errors


async def test_an_amount_typed_the_ledger_and_a_freeze_in_each_language(
    in_language: BrowserContext, language: str, owner: OwnerOf
) -> None:
    """$30 typed under the first pack, still picked: a $30 checkout; the ledger's line for it in
    the reader's words (none left marked as English); the kill switch frozen, its time said as
    a time, not the store's ISO text. Each page checked as the module's docstring says."""
    page, errors = await _opened(in_language)
    await owner(page)
    await page.goto("/dashboard/wallet")
    await page.locator("#pack_id").select_option("pack_starter")
    await page.locator("#amount").fill("30")
    await page.locator("#buy").click()
    await page.wait_for_url("**/api/public/v1/billing/sandbox/checkout/ord_*")
    await expect(page.locator("#total")).to_have_text(languages.money_in(3000, language))
    await page.locator("#pay").click()
    await page.wait_for_url("**/dashboard/wallet?notice=paid")
    if language != "en":  # in English every description is marked as the English it is
        await expect(page.locator('#ledger td[lang="en"]')).to_have_count(0)
    await _checked(page, language, "wallet-typed")
    await page.goto("/dashboard/freeze")
    await page.locator('form[action$="/freeze"] button.danger').click()
    await page.wait_for_url("**/dashboard/freeze?done=frozen*")
    said = await page.locator("#freeze-state").inner_text()
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", said), said
    await _checked(page, language, "freeze-frozen")
    assert not errors, errors


@pytest.fixture
async def in_english(browser: Browser, gateway_url: str) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport=DESKTOP, base_url=gateway_url, locale="en-US")
    context.set_default_timeout(ACTION_MS)
    yield context
    await context.close()


async def test_a_signed_out_reader_picks_each_language_with_the_switcher(
    in_english: BrowserContext, language: str, gateway_url: str, make_merchant: MakeMerchant
) -> None:
    """A browser asking for English picks the language by the switcher's link; the pages after
    (password reset, an expired consent link, the recipient's page) keep it, each checked as the
    module's docstring says."""
    page, errors = await _opened(in_english)
    await page.goto("/dashboard/sign-in")
    switcher = page.get_by_role("navigation", name="Language")
    await switcher.locator(f'a[lang="{languages.html_lang(language)}"]').click()
    await page.wait_for_url(f"**/dashboard/sign-in?lang={language}")
    await expect(page.get_by_role("heading", name=SIGN_IN[language])).to_be_visible()
    current = page.locator(".lang-switch a[aria-current]")
    await expect(current).to_have_text(languages.NAMES[language])
    await _checked(page, language, "switcher-sign-in")
    for name, path in [
        ("switcher-forgot-password", "/dashboard/forgot-password"),
        ("switcher-consent-expired", "/dashboard/oauth/consent?request=nothing"),
    ]:
        await page.goto(path)
        await _checked(page, language, name)
    merchant = await make_merchant("staging")
    send = {"platform": "claude", "amount_cents": 1500, "recipient_email": "eve@example.com"}
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        sent = await api.post("/topup/send", json=send, headers=merchant.headers)
        assert sent.status_code == 200, sent.text
        mails = (await api.get("/emails", headers=merchant.headers)).json()["data"]
    link = next(m for m in mails if m["kind"] == "voucher")["link"]
    await page.goto("/dashboard" + link.split("/dashboard", 1)[1])
    await expect(page.get_by_role("heading", name=CREDIT[language])).to_be_visible()
    await _checked(page, language, "switcher-recipient")
    assert not errors, errors


async def test_the_consent_page_lists_what_an_app_asks_for_in_each_language(
    in_language: BrowserContext, language: str, owner: OwnerOf
) -> None:
    """Each scope an app asks for is an item of its own with its words in the reader's language,
    and the merchant's choice names the scopes it may give as that language lists them; checked
    as the module's docstring says."""
    page, errors = await _opened(in_language)
    await owner(page)
    await page.goto("/dashboard/apps")
    await page.locator("#f-name").fill("Ledger Lens")
    await page.locator("#f-redirect_uris").fill("http://127.0.0.1:9/callback")
    for scope in ("topup:send", "topup:read", "billing"):
        await page.locator(f'input[name="scopes"][value="{scope}"]').check()
    await page.locator('form[action$="/apps"] button.primary').click()
    client_id = (await page.locator("#client-id").inner_text()).strip()
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636's example
    await page.goto(
        f"/oauth/authorize?response_type=code&client_id={client_id}"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=s"
        f"&code_challenge={challenge}&code_challenge_method=S256"
        "&scope=topup%3Asend+topup%3Aread+billing"
    )
    items = page.locator("#consent-scopes > li")
    await expect(items).to_have_count(3)
    words = {"en": "read this wallet", "zh": "读取此钱包", "ja": "このウォレットの残高"}
    await expect(page.locator('#consent-scopes > li[data-scope="topup:read"]')).to_contain_text(
        words[language]
    )
    option = await page.locator("#f-merchant_id option").first.inner_text()
    # As the language lists (Babel's ``format_list``), never an ASCII ", " in Chinese or Japanese.
    joined = {"en": "topup:read, and topup:send", "zh": "topup:read和topup:send"}
    assert joined.get(language, "topup:read、topup:send") in option, option
    await _checked(page, language, "consent-scopes")
    assert not errors, errors


async def _role(db: Database, merchant_id: str, role: str) -> None:
    t = table_of(MerchantUser)
    async with db.transaction() as conn:
        await conn.execute(t.update().where(t.c.merchant_id == merchant_id).values(role=role))


async def test_a_hold_asked_of_nobody_is_marked_in_the_inbox_and_the_mailbox(
    in_language: BrowserContext,
    gateway_url: str,
    db: Database,
    make_merchant: MakeMerchant,
    language: str,
    owner: OwnerOf,
) -> None:
    """A send held while nobody of the merchant's could decide it: the approvals inbox marks
    it and the staging mailbox counts it, in the reader's language; each page checked as the
    module's docstring says."""
    page, errors = await _opened(in_language)
    email = (await owner(page)).email
    user = await users.check_password(db, email, PASSWORD)
    assert user is not None
    agent = await make_merchant("staging", merchant_id=user.merchant_id)
    await set_policy(db, agent.key_id, {"scopes": ["topup:send"], "approval_above_cents": 10})
    await _role(db, user.merchant_id, "developer")  # nobody may decide it when it is held
    body = {"platform": "claude", "amount_cents": 900, "recipient_email": "r@example.com"}
    async with local_client(base_url=f"{gateway_url}/api/public/v1") as api:
        sent = await api.post("/topup/send", json=body, headers=agent.headers)
    assert sent.status_code == 202 and sent.json()["data"]["approvers_asked"] == 0, sent.text
    await _role(db, user.merchant_id, "owner")
    await page.goto("/dashboard/topups/approvals")
    await expect(page.locator(f'[data-unasked="{sent.json()["transaction_id"]}"]')).to_be_visible()
    await _checked(page, language, "approvals-unasked")
    await page.goto("/dashboard/mail")
    await expect(page.locator("#unasked")).to_be_visible()
    await _checked(page, language, "mail-unasked")
    assert not errors, errors
